package ai.parallax.server.api;

import ai.parallax.server.dashboard.ClusterStatusApi;
import ai.parallax.server.dashboard.ClusterView;
import ai.parallax.server.dashboard.DashboardSite;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.websocket.WsRouting;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The HTTP server of {@code parallax serve}: the OpenAI API, health, metrics and the chat WebSocket at
 * {@code /v1/chat/completions/ws}. It starts before the model is loaded (answering 503 meanwhile), so a supervisor
 * can watch {@code /health} while the weights page in. The dashboard and its {@code /cluster/*} endpoints share
 * the port; they read whatever {@link ClusterView} is set with {@link #cluster}.
 */
public final class ApiServer implements AutoCloseable {
    public static final String WEBSOCKET_PATH = "/v1/chat/completions/ws";

    private final AtomicReference<ServedModel> model = new AtomicReference<>();
    private final ServingMetrics metrics = new ServingMetrics();
    private final AtomicReference<ClusterView> cluster = new AtomicReference<>();
    private final WebServer server;

    /**
     * @param host   the address to listen on ("0.0.0.0" for every interface)
     * @param port   0 picks a free port
     * @param apiKey null for an open server
     */
    public ApiServer(String host, int port, String apiKey) {
        OpenAiApi api = new OpenAiApi(model::get, metrics, apiKey);
        HttpRouting.Builder routing = HttpRouting.builder();
        api.register(routing);
        new ClusterStatusApi(cluster::get).register(routing);
        ClusterStatusApi.registerErrors(routing);
        DashboardSite.register(routing);
        InetAddress address;
        try {
            address = InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("cannot resolve the listen address " + host, e);
        }
        this.server = WebServer.builder()
                .address(address)
                .port(port)
                .routing(routing)
                .addRouting(WsRouting.builder().endpoint(WEBSOCKET_PATH, () -> new ChatWebSocket(api, metrics)))
                .build();
    }

    public ApiServer start() {
        server.start();
        return this;
    }

    public int port() {
        return server.port();
    }

    /** Starts serving {@code served}: until then every API call answers 503. */
    public void ready(ServedModel served) {
        model.set(served);
    }

    /** Sets what the dashboard shows of the cluster; replaces (without closing) the previous view. */
    public void cluster(ClusterView view) {
        cluster.set(view);
    }

    public ServedModel model() {
        return model.get();
    }

    public ServingMetrics metrics() {
        return metrics;
    }

    @Override
    public void close() {
        server.stop();
        ClusterView view = cluster.getAndSet(null);
        if (view != null) {
            view.close();
        }
    }
}
