# Install layout and the Debian package (`cpack -G DEB`, driven by scripts/package.sh).
# Paths follow the install prefix: with CMAKE_INSTALL_PREFIX=/usr (the release preset) the config
# goes to /etc/pgrelay and the unit to /lib/systemd/system, as in the package; with the default
# /usr/local a hand install stays under /usr/local and never touches /etc.
include(GNUInstallDirs)

set(PGRELAY_SYSCONFDIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/pgrelay" CACHE PATH
    "Where pgrelay.yaml and users.yaml are installed")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_pgrelay_unitdir "/lib/systemd/system")  # Debian 12: packaged units live here
else()
  set(_pgrelay_unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
set(PGRELAY_SYSTEMD_UNITDIR "${_pgrelay_unitdir}" CACHE PATH "Where pgrelay.service is installed")

set(_pkg ${PROJECT_SOURCE_DIR}/packaging)
set(_gen ${PROJECT_BINARY_DIR}/packaging)

# The unit and the default config name the installed paths; rewrite them when the prefix differs.
function(pgrelay_install_rewritten src dst_dir mode)
  file(READ ${src} text)
  string(REPLACE "/usr/bin/pgrelay" "${CMAKE_INSTALL_FULL_BINDIR}/pgrelay" text "${text}")
  string(REPLACE "/etc/pgrelay" "${PGRELAY_SYSCONFDIR}" text "${text}")
  string(REPLACE "/usr/share/pgrelay" "${CMAKE_INSTALL_FULL_DATADIR}/pgrelay" text "${text}")
  string(REPLACE "/usr/share/doc/pgrelay" "${CMAKE_INSTALL_FULL_DOCDIR}" text "${text}")
  get_filename_component(name ${src} NAME)
  file(WRITE ${_gen}/${name} "${text}")
  install(FILES ${_gen}/${name} DESTINATION ${dst_dir} PERMISSIONS ${mode})
endfunction()

set(_rw OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
set(_rw_group OWNER_READ OWNER_WRITE GROUP_READ)  # users.yaml and pgrelay.yaml: root:pgrelay 0640
pgrelay_install_rewritten(${_pkg}/pgrelay.service ${PGRELAY_SYSTEMD_UNITDIR} "${_rw}")
pgrelay_install_rewritten(${_pkg}/deb/pgrelay.yaml ${PGRELAY_SYSCONFDIR} "${_rw_group}")
install(FILES ${_pkg}/deb/users.yaml DESTINATION ${PGRELAY_SYSCONFDIR} PERMISSIONS ${_rw_group})
install(FILES ${_pkg}/pgrelay.schema.json ${_pkg}/pgrelay-users.schema.json ${_pkg}/pgrelay-auth.sql
        DESTINATION ${CMAKE_INSTALL_DATADIR}/pgrelay PERMISSIONS ${_rw})
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/configuration.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR} PERMISSIONS ${_rw})
# The fully commented example (every key, with a replica), as docs/configuration.md refers to it.
install(FILES ${_pkg}/pgrelay.yaml ${_pkg}/users.yaml
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples PERMISSIONS ${_rw})

# ---- CPack: one Debian package ------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pgrelay)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "pgrelay developers <dev@pgrelay.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "PostgreSQL connection pooler with read/write routing")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
       "pgrelay multiplexes client sessions onto a few server connections (transaction or session\n"
       "pooling), carries prepared statements and session parameters across servers, and routes\n"
       "read-only statements to lag-checked replicas with read-your-writes.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES TRUE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # pgrelay_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Shared-library dependencies come from dpkg-shlibdeps; adduser is for postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql-client")

configure_file(${_pkg}/deb/conffiles.in ${_gen}/deb/conffiles @ONLY)
foreach(script postinst prerm postrm)
  configure_file(${_pkg}/deb/${script}.in ${_gen}/deb/${script} @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                  WORLD_READ WORLD_EXECUTE)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${_gen}/deb/conffiles ${_gen}/deb/postinst ${_gen}/deb/prerm ${_gen}/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

include(CPack)
