package ai.parallax.server.scheduler;

import ai.parallax.server.scheduler.RequestRouter.PipelineLoad;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class RequestRouterTest {
    @Test
    void routesToTheLeastExpectedLatencyNotRoundRobin() {
        PipelineLoad fastButBusy = new PipelineLoad(10, 9, 1, true);   // 10·10 + 1 = 101 ms
        PipelineLoad slowButIdle = new PipelineLoad(40, 1, 2, true);   // 40·2 + 2 = 82 ms
        assertThat(RequestRouter.choose(List.of(fastButBusy, slowButIdle))).isEqualTo(1);
        // The same pipelines again give the same answer: it is not taking turns.
        assertThat(RequestRouter.choose(List.of(fastButBusy, slowButIdle))).isEqualTo(1);
    }

    @Test
    void roundTripsCountAndTiesGoToTheLowerIndex() {
        assertThat(RequestRouter.choose(List.of(new PipelineLoad(10, 0, 30, true), new PipelineLoad(10, 0, 5, true))))
                .isEqualTo(1);
        assertThat(RequestRouter.choose(List.of(new PipelineLoad(10, 2, 5, true), new PipelineLoad(10, 2, 5, true))))
                .isZero();
    }

    @Test
    void brokenPipelinesAreSkippedAndNoneUpGivesMinusOne() {
        assertThat(RequestRouter.choose(List.of(new PipelineLoad(1, 0, 0, false), new PipelineLoad(50, 5, 9, true))))
                .isEqualTo(1);
        assertThat(RequestRouter.choose(List.of(new PipelineLoad(1, 0, 0, false)))).isEqualTo(-1);
        assertThat(RequestRouter.choose(List.of())).isEqualTo(-1);
    }

    @Test
    void anUnmeasuredPipelineCountsAsTheSlowestMeasuredOne() {
        PipelineLoad measured = new PipelineLoad(20, 1, 0, true); // 20·2 = 40 ms
        PipelineLoad fresh = new PipelineLoad(Double.NaN, 1, 0, true); // taken as 20 ms per step: 40 ms, a tie
        assertThat(RequestRouter.choose(List.of(measured, fresh))).isZero();
        assertThat(RequestRouter.choose(List.of(new PipelineLoad(20, 2, 0, true), fresh))).isEqualTo(1);
        // With nothing measured, queues decide.
        assertThat(RequestRouter.choose(List.of(new PipelineLoad(Double.NaN, 3, 0, true),
                new PipelineLoad(Double.NaN, 1, 0, true)))).isEqualTo(1);
    }

    @Test
    void aBusyUnmeasuredStepTakesAtLeastItsLinksRoundTrips() {
        // Each step crosses every link: 20 ms of round trips make a step of at least 20 ms, so the pipeline with
        // shorter links takes more of a burst, but not every request (the queue soon outweighs the links).
        PipelineLoad far = new PipelineLoad(Double.NaN, 1, 20, true); // 20·2 + 20 = 60 ms
        assertThat(RequestRouter.choose(List.of(far, new PipelineLoad(Double.NaN, 1, 10, true)))).isEqualTo(1);
        assertThat(RequestRouter.choose(List.of(far, new PipelineLoad(Double.NaN, 3, 10, true)))).isEqualTo(1);
        assertThat(RequestRouter.choose(List.of(far, new PipelineLoad(Double.NaN, 4, 10, true)))).isZero(); // tie
    }

    @Test
    void idleUnmeasuredPipelinesComeFirstTheShortestLinksFirst() {
        PipelineLoad farIdle = new PipelineLoad(Double.NaN, 0, 20, true);
        assertThat(RequestRouter.choose(List.of(farIdle, new PipelineLoad(Double.NaN, 0, 10, true)))).isEqualTo(1);
        // However long its links (a busy CPU may have held its first pings back), it gets one request to learn.
        assertThat(RequestRouter.choose(List.of(farIdle, new PipelineLoad(Double.NaN, 1, 0.2, true)))).isZero();
        assertThat(RequestRouter.choose(List.of(new PipelineLoad(2, 0, 0.1, true), farIdle))).isEqualTo(1);
        // Not when it is down.
        assertThat(RequestRouter.choose(List.of(new PipelineLoad(Double.NaN, 0, 1, false),
                new PipelineLoad(2, 3, 0.1, true)))).isEqualTo(1);
    }

    @Test
    void anIdleUnmeasuredPipelineTakesTheNextRequestSoThatItGetsMeasured() {
        // Requests one after another: the measured pipeline is idle each time, and the new one would never be tried
        // if it only counted as slow as the slowest measured one (5 + 0.4 against 5 + 0.3).
        PipelineLoad measuredIdle = new PipelineLoad(5, 0, 0.3, true);
        PipelineLoad freshIdle = new PipelineLoad(Double.NaN, 0, 0.4, true);
        assertThat(RequestRouter.choose(List.of(measuredIdle, freshIdle))).isEqualTo(1);
        // Once it has a request in flight, it counts as slow as the slowest measured one again.
        assertThat(RequestRouter.choose(List.of(measuredIdle, new PipelineLoad(Double.NaN, 1, 0.4, true))))
                .isZero();
    }
}
