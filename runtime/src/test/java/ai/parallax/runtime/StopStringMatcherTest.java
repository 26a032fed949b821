package ai.parallax.runtime;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class StopStringMatcherTest {

    @Test
    void textBeforeAStopStringIsEmittedAndTheStopStringIsNot() {
        StopStringMatcher m = new StopStringMatcher(List.of("\n\nUser:"));
        StringBuilder out = new StringBuilder();
        for (String piece : List.of("Hello", " there", "\n", "\nUs", "er:", " more")) {
            out.append(m.append(piece));
        }
        assertThat(out).hasToString("Hello there");
        assertThat(m.stopped()).isTrue();
        assertThat(m.flush()).isEmpty();
    }

    @Test
    void aPossibleStartOfAStopStringIsHeldBackUntilItCannotMatch() {
        StopStringMatcher m = new StopStringMatcher(List.of("END"));
        assertThat(m.append("the EN")).isEqualTo("the ");
        assertThat(m.append("D")).isEmpty();
        assertThat(m.stopped()).isTrue();

        StopStringMatcher other = new StopStringMatcher(List.of("END"));
        assertThat(other.append("the EN")).isEqualTo("the ");
        assertThat(other.append("ding")).isEqualTo("ENding");
        assertThat(other.stopped()).isFalse();
    }

    @Test
    void heldBackTextIsFlushedWhenGenerationEndsWithoutAMatch() {
        StopStringMatcher m = new StopStringMatcher(List.of("###"));
        assertThat(m.append("a #")).isEqualTo("a ");
        assertThat(m.flush()).isEqualTo("#");
    }

    @Test
    void theEarliestOfSeveralStopStringsWins() {
        StopStringMatcher m = new StopStringMatcher(List.of("cat", "a c"));
        assertThat(m.append("a cat")).isEmpty();
        assertThat(m.stopped()).isTrue();
    }

    @Test
    void withoutStopStringsTextPassesStraightThrough() {
        StopStringMatcher m = new StopStringMatcher(List.of());
        assertThat(m.append("anything")).isEqualTo("anything");
        assertThat(m.flush()).isEmpty();
    }
}
