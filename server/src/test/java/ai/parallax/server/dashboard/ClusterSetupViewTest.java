package ai.parallax.server.dashboard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@code serve --models-dir} before and after the setup page's choice, with a stand-in for starting the scheduler. */
class ClusterSetupViewTest {
    private static final Path MODELS = Path.of(System.getProperty("parallax.models"));

    @Test
    void beforeSetupTheFoldersModelsAreListedAndNothingIsJoinable() {
        ClusterSetupView view = new ClusterSetupView(MODELS, new ClusterSizing(1024, null), (choice, events) -> {
            throw new AssertionError("no setup yet");
        });
        ClusterStatus s = view.status();
        assertThat(s.state()).isEqualTo("setup");
        assertThat(s.model()).isNull();
        assertThat(s.join().joinable()).isFalse();
        assertThat(s.join().command()).isNull();
        ClusterModels m = view.models();
        assertThat(m.modelsDir()).isEqualTo(MODELS.toString());
        assertThat(m.current()).isNull();
        assertThat(m.models()).extracting(ClusterModels.ModelInfo::id).contains("stories260K", "tiny-random-qwen3");
        assertThat(view.history(0)).isEmpty();
    }

    @Test
    void choiceStartsTheSchedulerForThatModelAndThenTheClustersViewAnswers() throws Exception {
        CompletableFuture<SetupChoice> chosen = new CompletableFuture<>();
        CountDownLatch release = new CountDownLatch(1);
        ClusterView running = new ClusterView() {
            @Override
            public ClusterStatus status() {
                return new ClusterStatus("waiting", "waiting for nodes", null, "public", 2, null, List.of(),
                        List.of(), List.of(), 0);
            }

            @Override
            public ClusterModels models() {
                return null;
            }

            @Override
            public ClusterStatus setup(SetupRequest request) {
                return status();
            }

            @Override
            public List<NodeSample> history(long sinceMillis) {
                return List.of();
            }
        };
        ClusterSetupView view = new ClusterSetupView(MODELS, new ClusterSizing(1024, null), (choice, events) -> {
            chosen.complete(choice);
            assertThat(events.toString()).contains("setup: stories260K on 2 nodes, public network");
            try {
                release.await();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            return running;
        });

        ClusterStatus starting = view.setup(new SetupRequest("stories260K", 2, "public"));
        assertThat(chosen.get(5, TimeUnit.SECONDS)).isEqualTo(new SetupChoice("stories260K", 2, "public"));
        assertThat(starting.state()).isEqualTo("loading");
        assertThat(starting.model().id()).isEqualTo("stories260K");
        assertThat(starting.model().numLayers()).isEqualTo(5);
        // A second choice while the first starts is refused.
        assertThatThrownBy(() -> view.setup(new SetupRequest("tiny-random-qwen3", 1, "lan")))
                .isInstanceOfSatisfying(ClusterView.SetupRefusedException.class,
                        e -> assertThat(e.status()).isEqualTo(409))
                .hasMessageContaining("under way for stories260K");

        release.countDown();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!view.status().state().equals("waiting") && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(view.status().message()).isEqualTo("waiting for nodes");
    }

    @Test
    void unknownModelsAndBadChoicesAreRefusedWithTheReason() {
        ClusterSetupView view = new ClusterSetupView(MODELS, new ClusterSizing(1024, null), (choice, events) -> {
            throw new AssertionError("must not start");
        });
        assertThatThrownBy(() -> view.setup(new SetupRequest("no-such-model", 1, "lan")))
                .isInstanceOfSatisfying(ClusterView.SetupRefusedException.class,
                        e -> assertThat(e.status()).isEqualTo(404))
                .hasMessageContaining("no model \"no-such-model\" in " + MODELS);
        assertThatThrownBy(() -> view.setup(new SetupRequest("stories260K", 1, "moon")))
                .hasMessage("network must be \"lan\" or \"public\", got \"moon\"");
        assertThatThrownBy(() -> view.setup(new SetupRequest(null, 1, "lan")))
                .hasMessageContaining("setup needs a model");
    }

    @Test
    void schedulerThatFailsToStartTurnsTheStatusFailedAndAllowsAnotherChoice() throws Exception {
        ClusterSetupView view = new ClusterSetupView(MODELS, new ClusterSizing(1024, null), (choice, events) -> {
            throw new IllegalStateException("port 4001 is taken");
        });
        view.setup(new SetupRequest("stories260K", 1, "lan"));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!view.status().state().equals("failed") && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        ClusterStatus s = view.status();
        assertThat(s.state()).isEqualTo("failed");
        assertThat(s.message()).isEqualTo("starting the scheduler for stories260K failed: port 4001 is taken");
        assertThat(s.events()).extracting(ClusterStatus.Event::kind).contains("failure");
        assertThat(view.setup(new SetupRequest("stories260K", 1, "lan")).state()).isIn("loading", "failed");
    }
}
