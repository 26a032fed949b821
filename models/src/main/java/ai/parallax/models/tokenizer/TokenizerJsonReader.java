package ai.parallax.models.tokenizer;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Reads tokenizer.json (format of Hugging Face tokenizers 0.x). The model section is streamed, because the vocab
 * and merges of a 128k-token model are most of a 9 MB file; the small sections are read as trees.
 */
final class TokenizerJsonReader {
    /**
     * Vocab tokens arrive as JSON field names; canonicalizing 128k one-off names in Jackson's symbol table only
     * costs time, so it is off.
     */
    private static final ObjectMapper JSON = new ObjectMapper(JsonFactory.builder()
            .disable(JsonFactory.Feature.CANONICALIZE_FIELD_NAMES)
            .disable(JsonFactory.Feature.INTERN_FIELD_NAMES)
            .build());

    private TokenizerJsonReader() {
    }

    static Tokenizer read(Path modelOrTokenizerFile) throws IOException {
        Path file = Files.isDirectory(modelOrTokenizerFile)
                ? modelOrTokenizerFile.resolve("tokenizer.json") : modelOrTokenizerFile;
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no tokenizer.json found");
        }
        Map<String, JsonNode> sections = new HashMap<>();
        ModelSection model = null;
        try (JsonParser p = JSON.getFactory().createParser(Files.readAllBytes(file))) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IOException(file + ": not a JSON object");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                p.nextToken();
                if (name.equals("model")) {
                    model = readModel(p, file);
                } else {
                    sections.put(name, JSON.readTree(p));
                }
            }
        }
        if (model == null) {
            throw new IOException(file + ": no \"model\" section");
        }
        List<AddedToken> added = readAddedTokens(sections.get("added_tokens"));
        BpeModel bpe = model.build(file);
        Map<String, JsonNode> config = readConfig(file.resolveSibling("tokenizer_config.json"));
        return new Tokenizer(bpe, added, normalizer(sections.get("normalizer")),
                preTokenizer(sections.get("pre_tokenizer")), postProcessor(sections.get("post_processor"), bpe, added),
                decoder(sections.get("decoder")), configuredToken(config.get("bos_token")),
                configuredToken(config.get("eos_token")));
    }

    /** The fields of the model section, vocab and merges streamed into compact form. */
    private static final class ModelSection {
        String type;
        final Map<String, JsonNode> options = new HashMap<>();
        Map<String, Integer> vocab;
        int maxId = -1;
        boolean hasMerges;
        final List<String> mergeLeft = new ArrayList<>();
        final List<String> mergeRight = new ArrayList<>();

        BpeModel build(Path file) {
            if (type == null) {
                // Old files omit the type; tokenizers then recognizes BPE by its merges.
                type = vocab != null && hasMerges ? "BPE" : "(missing)";
            }
            if (!type.equals("BPE")) {
                throw new UnsupportedTokenizerException(file + ": unsupported model type '" + type
                        + "' (supported: BPE)");
            }
            if (vocab == null) {
                throw new UnsupportedTokenizerException(file + ": BPE model without a vocab object");
            }
            JsonNode dropout = options.get("dropout");
            if (dropout != null && !dropout.isNull() && dropout.asDouble() != 0.0) {
                throw new UnsupportedTokenizerException(file + ": BPE dropout " + dropout
                        + " is not supported (it makes encoding random)");
            }
            String[] idToToken = new String[maxId + 1];
            vocab.forEach((token, id) -> idToToken[id] = token);
            String prefix = text(options.get("continuing_subword_prefix"));
            int prefixLength = prefix == null ? 0 : prefix.length();
            MergeTable merges = new MergeTable(mergeLeft.size());
            for (int rank = 0; rank < mergeLeft.size(); rank++) {
                String a = mergeLeft.get(rank);
                String b = mergeRight.get(rank);
                Integer left = vocab.get(a);
                Integer right = vocab.get(b);
                if (b.length() < prefixLength) {
                    throw new IllegalArgumentException(file + ": merge " + rank + " '" + a + " " + b
                            + "' is shorter than continuing_subword_prefix");
                }
                Integer merged = vocab.get(a + b.substring(prefixLength));
                if (left == null || right == null || merged == null) {
                    throw new IllegalArgumentException(file + ": merge " + rank + " '" + a + " " + b
                            + "' uses a token that is not in the vocabulary");
                }
                merges.put(left, right, rank, merged);
            }
            return new BpeModel(vocab, idToToken, merges, text(options.get("unk_token")),
                    bool(options.get("fuse_unk")), bool(options.get("byte_fallback")),
                    bool(options.get("ignore_merges")), prefix, text(options.get("end_of_word_suffix")));
        }
    }

    private static ModelSection readModel(JsonParser p, Path file) throws IOException {
        if (p.currentToken() != JsonToken.START_OBJECT) {
            throw new IOException(file + ": \"model\" is not an object");
        }
        ModelSection m = new ModelSection();
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String name = p.currentName();
            JsonToken value = p.nextToken();
            switch (name) {
                case "type" -> m.type = p.getText();
                case "vocab" -> {
                    if (value != JsonToken.START_OBJECT) {
                        p.skipChildren(); // e.g. Unigram's list of [piece, score]: refused by build()
                        continue;
                    }
                    m.vocab = new HashMap<>(300_000);
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String token = p.currentName();
                        p.nextToken();
                        int id = p.getIntValue();
                        if (id < 0) {
                            throw new IOException(file + ": negative id for vocab token '" + token + "'");
                        }
                        m.vocab.put(token, id);
                        m.maxId = Math.max(m.maxId, id);
                    }
                }
                case "merges" -> {
                    m.hasMerges = true;
                    if (value != JsonToken.START_ARRAY) {
                        throw new IOException(file + ": model.merges is not an array");
                    }
                    while (p.nextToken() != JsonToken.END_ARRAY) {
                        if (p.currentToken() == JsonToken.VALUE_STRING) {
                            // Legacy form "left right": tokens never contain the separating space.
                            String line = p.getText();
                            int space = line.indexOf(' ');
                            if (space < 0 || line.indexOf(' ', space + 1) >= 0) {
                                throw new IOException(file + ": merge '" + line + "' is not two tokens");
                            }
                            m.mergeLeft.add(line.substring(0, space));
                            m.mergeRight.add(line.substring(space + 1));
                        } else if (p.currentToken() == JsonToken.START_ARRAY) {
                            p.nextToken();
                            m.mergeLeft.add(p.getText());
                            p.nextToken();
                            m.mergeRight.add(p.getText());
                            if (p.nextToken() != JsonToken.END_ARRAY) {
                                throw new IOException(file + ": a merge has more than two tokens");
                            }
                        } else {
                            throw new IOException(file + ": unexpected merge entry " + p.currentToken());
                        }
                    }
                }
                default -> m.options.put(name, JSON.readTree(p));
            }
        }
        return m;
    }

    private static List<AddedToken> readAddedTokens(JsonNode node) {
        List<AddedToken> tokens = new ArrayList<>();
        if (node == null || node.isNull()) {
            return tokens;
        }
        for (JsonNode t : node) {
            tokens.add(new AddedToken(t.path("id").asInt(), t.path("content").asText(), t.path("special").asBoolean(),
                    t.path("single_word").asBoolean(), t.path("lstrip").asBoolean(), t.path("rstrip").asBoolean(),
                    t.path("normalized").asBoolean()));
        }
        return tokens;
    }

    static TextNormalizer normalizer(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        String type = n.path("type").asText();
        return switch (type) {
            case "NFC" -> new TextNormalizer.UnicodeForm(Normalizer.Form.NFC);
            case "NFD" -> new TextNormalizer.UnicodeForm(Normalizer.Form.NFD);
            case "NFKC" -> new TextNormalizer.UnicodeForm(Normalizer.Form.NFKC);
            case "NFKD" -> new TextNormalizer.UnicodeForm(Normalizer.Form.NFKD);
            case "Lowercase" -> new TextNormalizer.Lowercase();
            case "Prepend" -> new TextNormalizer.Prepend(n.path("prepend").asText());
            case "Strip" -> new TextNormalizer.Strip(n.path("strip_left").asBoolean(), n.path("strip_right").asBoolean());
            case "Replace" -> {
                JsonNode pattern = n.path("pattern");
                String content = n.path("content").asText();
                yield pattern.has("String") ? new TextNormalizer.Replace(pattern.get("String").asText(), null, content)
                        : new TextNormalizer.Replace(null, regex(pattern, "normalizer Replace"), content);
            }
            case "Sequence" -> {
                List<TextNormalizer> steps = new ArrayList<>();
                n.path("normalizers").forEach(s -> steps.add(normalizer(s)));
                yield new TextNormalizer.Sequence(steps);
            }
            default -> throw new UnsupportedTokenizerException("unsupported normalizer type '" + type
                    + "' (supported: NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, Sequence)");
        };
    }

    static PreTokenizer preTokenizer(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        String type = n.path("type").asText();
        return switch (type) {
            case "ByteLevel" -> new PreTokenizer.ByteLevel(n.path("add_prefix_space").asBoolean(),
                    n.path("use_regex").asBoolean(true));
            case "Split" -> {
                JsonNode pattern = n.path("pattern");
                Pattern compiled = pattern.has("String") ? Pattern.compile(Pattern.quote(pattern.get("String").asText()))
                        : regex(pattern, "pre_tokenizer Split");
                String behavior = n.path("behavior").asText();
                PreTokenizer.Behavior b = switch (behavior) {
                    case "Removed" -> PreTokenizer.Behavior.REMOVED;
                    case "Isolated" -> PreTokenizer.Behavior.ISOLATED;
                    case "MergedWithPrevious" -> PreTokenizer.Behavior.MERGED_WITH_PREVIOUS;
                    case "MergedWithNext" -> PreTokenizer.Behavior.MERGED_WITH_NEXT;
                    case "Contiguous" -> PreTokenizer.Behavior.CONTIGUOUS;
                    default -> throw new UnsupportedTokenizerException("unsupported Split behavior '" + behavior + "'");
                };
                yield new PreTokenizer.Split(compiled, b, n.path("invert").asBoolean());
            }
            case "Metaspace" -> new PreTokenizer.Metaspace(replacement(n), prependScheme(n),
                    n.path("split").asBoolean(true));
            case "Sequence" -> {
                List<PreTokenizer> steps = new ArrayList<>();
                n.path("pretokenizers").forEach(s -> steps.add(preTokenizer(s)));
                yield new PreTokenizer.Sequence(steps);
            }
            default -> throw new UnsupportedTokenizerException("unsupported pre_tokenizer type '" + type
                    + "' (supported: ByteLevel, Split, Metaspace, Sequence)");
        };
    }

    static PostProcessor postProcessor(JsonNode n, BpeModel model, List<AddedToken> added) {
        if (n == null || n.isNull()) {
            return null;
        }
        String type = n.path("type").asText();
        return switch (type) {
            case "ByteLevel" -> new PostProcessor.OffsetsOnly();
            case "TemplateProcessing" -> {
                List<int[]> single = new ArrayList<>();
                for (JsonNode item : n.path("single")) {
                    if (item.has("Sequence")) {
                        single.add(null);
                    } else if (item.has("SpecialToken")) {
                        String name = item.get("SpecialToken").path("id").asText();
                        JsonNode special = n.path("special_tokens").path(name);
                        if (!special.has("ids")) {
                            throw new IllegalArgumentException("TemplateProcessing uses special token '" + name
                                    + "' without listing it in special_tokens");
                        }
                        int[] ids = new int[special.get("ids").size()];
                        for (int i = 0; i < ids.length; i++) {
                            ids[i] = special.get("ids").get(i).asInt();
                        }
                        single.add(ids);
                    } else {
                        throw new UnsupportedTokenizerException("unsupported TemplateProcessing item " + item);
                    }
                }
                yield new PostProcessor.Template(single);
            }
            case "BertProcessing", "RobertaProcessing" -> new PostProcessor.Template(java.util.Arrays.asList(
                    new int[] {n.path("cls").path(1).asInt()}, null, new int[] {n.path("sep").path(1).asInt()}));
            case "Sequence" -> {
                List<PostProcessor> steps = new ArrayList<>();
                n.path("processors").forEach(s -> steps.add(postProcessor(s, model, added)));
                yield new PostProcessor.Sequence(steps);
            }
            default -> throw new UnsupportedTokenizerException("unsupported post_processor type '" + type
                    + "' (supported: TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing, Sequence)");
        };
    }

    static TokenDecoder decoder(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        String type = n.path("type").asText();
        return switch (type) {
            case "ByteLevel" -> new TokenDecoder.ByteLevel();
            case "ByteFallback" -> new TokenDecoder.ByteFallback();
            case "Fuse" -> new TokenDecoder.Fuse();
            case "Strip" -> {
                String content = n.path("content").asText();
                if (content.codePointCount(0, content.length()) != 1) {
                    throw new IllegalArgumentException("Strip decoder content must be one character, got '"
                            + content + "'");
                }
                yield new TokenDecoder.Strip(content.codePointAt(0), n.path("start").asInt(), n.path("stop").asInt());
            }
            case "Replace" -> {
                JsonNode pattern = n.path("pattern");
                String content = n.path("content").asText();
                yield pattern.has("String") ? new TokenDecoder.Replace(pattern.get("String").asText(), null, content)
                        : new TokenDecoder.Replace(null, regex(pattern, "decoder Replace"), content);
            }
            case "Metaspace" -> new TokenDecoder.Metaspace(replacement(n),
                    prependScheme(n) != PreTokenizer.Metaspace.PrependScheme.NEVER);
            case "Sequence" -> {
                List<TokenDecoder> steps = new ArrayList<>();
                n.path("decoders").forEach(s -> steps.add(decoder(s)));
                yield new TokenDecoder.Sequence(steps);
            }
            default -> throw new UnsupportedTokenizerException("unsupported decoder type '" + type
                    + "' (supported: ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace, Sequence)");
        };
    }

    private static char replacement(JsonNode n) {
        String r = n.path("replacement").asText();
        if (r.length() != 1) {
            throw new UnsupportedTokenizerException("Metaspace replacement must be one UTF-16 character, got '" + r
                    + "'");
        }
        return r.charAt(0);
    }

    /** {@code prepend_scheme}, or the older {@code add_prefix_space} flag it replaced. */
    private static PreTokenizer.Metaspace.PrependScheme prependScheme(JsonNode n) {
        if (n.has("prepend_scheme")) {
            String scheme = n.get("prepend_scheme").asText();
            return switch (scheme) {
                case "always" -> PreTokenizer.Metaspace.PrependScheme.ALWAYS;
                case "first" -> PreTokenizer.Metaspace.PrependScheme.FIRST;
                case "never" -> PreTokenizer.Metaspace.PrependScheme.NEVER;
                default -> throw new UnsupportedTokenizerException("unsupported Metaspace prepend_scheme '" + scheme
                        + "'");
            };
        }
        return n.path("add_prefix_space").asBoolean(true) ? PreTokenizer.Metaspace.PrependScheme.ALWAYS
                : PreTokenizer.Metaspace.PrependScheme.NEVER;
    }

    private static Pattern regex(JsonNode pattern, String where) {
        if (!pattern.has("Regex")) {
            throw new UnsupportedTokenizerException(where + ": unsupported pattern " + pattern);
        }
        return OnigurumaRegex.compile(pattern.get("Regex").asText());
    }

    private static Map<String, JsonNode> readConfig(Path configFile) throws IOException {
        Map<String, JsonNode> config = new HashMap<>();
        if (Files.isRegularFile(configFile)) {
            JSON.readTree(configFile.toFile()).properties().forEach(e -> config.put(e.getKey(), e.getValue()));
        }
        return config;
    }

    /** tokenizer_config.json writes a special token as a string or as an AddedToken object with "content". */
    private static String configuredToken(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        return node.isTextual() ? node.asText() : text(node.get("content"));
    }

    private static String text(JsonNode node) {
        return node == null || node.isNull() ? null : node.asText();
    }

    private static boolean bool(JsonNode node) {
        return node != null && node.asBoolean();
    }
}
