package ai.parallax.server.dashboard;

import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.staticcontent.ClasspathHandlerConfig;
import io.helidon.webserver.staticcontent.StaticContentFeature;

/**
 * Serves the dashboard: its pages from the {@code dashboard} module's class path resources under
 * {@code /dashboard/}, the front-end libraries from their webjars under {@code /dashboard/vendor/}, and a redirect
 * from {@code /}. Nothing is fetched from elsewhere, so a cluster works offline.
 */
public final class DashboardSite {
    public static final String CONTEXT = "/dashboard";
    /** Where the dashboard module keeps its pages. */
    static final String PAGES = "ai/parallax/dashboard/web";
    /** Where webjars keep their files: {@code <name>/<version>/…} below it. */
    static final String WEBJARS = "META-INF/resources/webjars";

    private DashboardSite() {
    }

    public static void register(HttpRouting.Builder routing) {
        routing.register(CONTEXT + "/vendor", StaticContentFeature.createService(ClasspathHandlerConfig.builder()
                .location(WEBJARS)
                .build()));
        routing.register(CONTEXT, StaticContentFeature.createService(ClasspathHandlerConfig.builder()
                .location(PAGES)
                .welcome("index.html")
                .build()));
        routing.get("/", (req, res) -> {
            res.status(Status.TEMPORARY_REDIRECT_307);
            res.header(HeaderNames.LOCATION, CONTEXT + "/");
            res.send();
        });
        routing.get(CONTEXT, (req, res) -> {
            res.status(Status.TEMPORARY_REDIRECT_307);
            res.header(HeaderNames.LOCATION, CONTEXT + "/");
            res.send();
        });
    }
}
