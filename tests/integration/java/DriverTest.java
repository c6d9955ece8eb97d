// pgJDBC in its default configuration (prepareThreshold=5: the 5th execution of a
// PreparedStatement switches to a named server-side statement) against pgrelay — or any
// Postgres endpoint. Compiled and run by tests/integration/test_drivers.py:
//   javac -d OUT DriverTest.java && java -cp OUT:/usr/share/java/postgresql.jar DriverTest \
//       HOST PORT USER PASSWORD DATABASE [THREADS] [ITERATIONS]
// Each thread opens its own connection and runs ITERATIONS executions of one
// PreparedStatement `select ?::int + 1` in autocommit, then ITERATIONS more in explicit
// transactions (setAutoCommit(false) ... commit()), asserting every value.
// Prints "OK" and exits 0 when every thread succeeded; otherwise prints each failure and exits 1.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

public class DriverTest {
    static String url;
    static Properties props;

    static int queryOne(PreparedStatement ps, int i) throws SQLException {
        ps.setInt(1, i);
        try (ResultSet rs = ps.executeQuery()) {
            if (!rs.next()) throw new IllegalStateException("no row for i=" + i);
            int v = rs.getInt(1);
            if (rs.next()) throw new IllegalStateException("more than one row for i=" + i);
            return v;
        }
    }

    static String describe(Throwable t) {
        String s = t.toString();
        if (t instanceof SQLException) s += " [SQLState " + ((SQLException) t).getSQLState() + "]";
        return s;
    }

    static Void worker(int id, int iterations) throws Exception {
        try (Connection c = DriverManager.getConnection(url, props)) {
            try (PreparedStatement ps = c.prepareStatement("select ?::int + 1")) {
                // autocommit: every execution is its own transaction on the server side
                for (int i = 0; i < iterations; i++) {
                    int arg = id * 1000 + i;
                    int v;
                    try {
                        v = queryOne(ps, arg);
                    } catch (Exception e) {
                        throw new Exception("thread " + id + " autocommit iteration " + i + ": " + describe(e), e);
                    }
                    if (v != arg + 1)
                        throw new IllegalStateException("thread " + id + " autocommit iteration " + i
                                + ": expected " + (arg + 1) + ", got " + v);
                }
                // explicit transactions
                c.setAutoCommit(false);
                for (int i = 0; i < iterations; i++) {
                    int arg = id * 1000 + 500 + i;
                    int v;
                    try {
                        v = queryOne(ps, arg);
                        c.commit();
                    } catch (Exception e) {
                        try { c.rollback(); } catch (SQLException ignored) { }
                        throw new Exception("thread " + id + " transaction iteration " + i + ": " + describe(e), e);
                    }
                    if (v != arg + 1)
                        throw new IllegalStateException("thread " + id + " transaction iteration " + i
                                + ": expected " + (arg + 1) + ", got " + v);
                }
                c.setAutoCommit(true);
            }
        }
        return null;
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 5) {
            System.err.println("usage: DriverTest HOST PORT USER PASSWORD DATABASE [THREADS] [ITERATIONS]");
            System.exit(2);
        }
        url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/" + args[4];
        props = new Properties();
        props.setProperty("user", args[2]);
        props.setProperty("password", args[3]);
        int threads = args.length > 5 ? Integer.parseInt(args[5]) : 8;
        int iterations = args.length > 6 ? Integer.parseInt(args[6]) : 50;
        DriverManager.setLoginTimeout(10);

        ExecutorService pool = Executors.newFixedThreadPool(threads);
        List<Future<Void>> futures = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int id = t;
            futures.add(pool.submit(() -> worker(id, iterations)));
        }
        pool.shutdown();
        if (!pool.awaitTermination(60, TimeUnit.SECONDS)) {
            System.out.println("FAIL: workers still running after 60s");
            System.exit(1);
        }
        int failed = 0;
        for (Future<Void> f : futures) {
            try {
                f.get();
            } catch (java.util.concurrent.ExecutionException e) {
                failed++;
                System.out.println("FAIL: " + e.getCause().getMessage());
            }
        }
        if (failed > 0) {
            System.out.println("FAILED: " + failed + " of " + threads + " threads");
            System.exit(1);
        }
        System.out.println("OK " + threads + " threads x " + (2 * iterations) + " executions");
        System.out.println("OK");
    }
}
