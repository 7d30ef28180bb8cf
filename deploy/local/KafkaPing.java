// Kafka health check used by servers.sh when kafka-python is not importable.
// Run as a single-file program (Java 11+): java -cp 'kafka/lib/*' KafkaPing.java HOST:PORT
// Exit 0 once the broker answers a metadata request (describeCluster) with >= 1 node.
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

public class KafkaPing {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        try (Admin admin = Admin.create(p)) {
            int nodes = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).size();
            System.exit(nodes > 0 ? 0 : 1);
        }
    }
}
