package ai.parallax.models.chat;

import java.util.Arrays;

/**
 * A template's source after Jinja's newline handling, with offset to line/column conversion for error messages.
 *
 * <p>Jinja splits the source on {@code \r\n}, {@code \r} and {@code \n}, joins the lines with {@code \n}, and (with
 * the default {@code keep_trailing_newline=False} that transformers uses) drops a single trailing newline.
 */
final class SourceText {
    final String text;
    private final int[] lineStarts;

    SourceText(String raw) {
        String normalized = raw.replace("\r\n", "\n").replace('\r', '\n');
        if (normalized.endsWith("\n")) normalized = normalized.substring(0, normalized.length() - 1);
        this.text = normalized;
        int[] starts = new int[16];
        int count = 0;
        starts[count++] = 0;
        for (int i = 0; i < normalized.length(); i++) {
            if (normalized.charAt(i) == '\n') {
                if (count == starts.length) starts = Arrays.copyOf(starts, count * 2);
                starts[count++] = i + 1;
            }
        }
        this.lineStarts = Arrays.copyOf(starts, count);
    }

    int line(int offset) {
        int index = Arrays.binarySearch(lineStarts, offset);
        return (index >= 0 ? index : -index - 2) + 1;
    }

    int column(int offset) {
        return offset - lineStarts[line(offset) - 1] + 1;
    }

    TemplateException error(int offset, String detail) {
        return TemplateException.at(line(offset), column(offset), detail);
    }
}
