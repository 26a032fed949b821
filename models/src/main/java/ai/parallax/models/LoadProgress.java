package ai.parallax.models;

/** Reports how many of a stage's weight bytes are paged into memory, for a progress bar. */
@FunctionalInterface
public interface LoadProgress {
    void update(long bytesDone, long bytesTotal);

    LoadProgress NONE = (done, total) -> { };
}
