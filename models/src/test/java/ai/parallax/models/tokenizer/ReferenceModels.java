package ai.parallax.models.tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** The shared reference tokenizers, each loaded once per test JVM because the large ones take a moment. */
final class ReferenceModels {
    static final String STORIES = "stories260K";
    static final String QWEN3 = "tokenizer-qwen3";
    static final String LLAMA3 = "tokenizer-llama3_1";

    private static final Map<String, Tokenizer> LOADED = new ConcurrentHashMap<>();

    private ReferenceModels() {
    }

    static Path dir(String name) {
        String root = System.getProperty("parallax.models", "../../shared/models");
        return Path.of(root).resolve(name);
    }

    static Tokenizer tokenizer(String name) {
        return LOADED.computeIfAbsent(name, n -> {
            try {
                return Tokenizer.load(dir(n));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** Java-escaped text, so failures show invisible and unusual characters. */
    static String escape(String s) {
        StringBuilder sb = new StringBuilder("\"");
        s.codePoints().forEach(cp -> {
            if (cp >= 0x20 && cp < 0x7F && cp != '"' && cp != '\\') {
                sb.append((char) cp);
            } else if (cp == '\n') {
                sb.append("\\n");
            } else if (cp == '\r') {
                sb.append("\\r");
            } else if (cp == '\t') {
                sb.append("\\t");
            } else if (cp == '"' || cp == '\\') {
                sb.append('\\').append((char) cp);
            } else {
                sb.append(String.format("\\u{%X}", cp));
            }
        });
        return sb.append('"').toString();
    }
}
