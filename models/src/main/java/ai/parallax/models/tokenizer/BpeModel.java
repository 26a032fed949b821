package ai.parallax.models.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The {@code BPE} model of Hugging Face tokenizers: splits one pre-tokenized word into characters (or their UTF-8
 * byte tokens with {@code byte_fallback}, or the unknown token), then repeatedly applies the lowest-ranked merge,
 * leftmost first, exactly as tokenizers' {@code Word::merge_all} orders them.
 */
final class BpeModel {
    /** Hugging Face caches words shorter than this many bytes; longer ones are rare and would crowd the cache. */
    private static final int CACHEABLE_WORD_LENGTH = 256;
    private static final int CACHE_CAPACITY = 10_000;

    private final Map<String, Integer> vocab;
    private final String[] idToToken;
    private final MergeTable merges;
    private final int[] bmpCharIds;
    private final Map<Integer, Integer> supplementaryCharIds = new HashMap<>();
    private final int[] byteFallbackIds;
    private final int unkId;
    private final boolean fuseUnk;
    private final boolean ignoreMerges;
    private final String continuingSubwordPrefix;
    private final String endOfWordSuffix;
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * @param continuingSubwordPrefix null or empty for none
     * @param endOfWordSuffix null or empty for none
     */
    BpeModel(Map<String, Integer> vocab, String[] idToToken, MergeTable merges, String unkToken, boolean fuseUnk,
            boolean byteFallback, boolean ignoreMerges, String continuingSubwordPrefix, String endOfWordSuffix) {
        this.vocab = vocab;
        this.idToToken = idToToken;
        this.merges = merges;
        this.fuseUnk = fuseUnk;
        this.ignoreMerges = ignoreMerges;
        this.continuingSubwordPrefix = continuingSubwordPrefix == null || continuingSubwordPrefix.isEmpty()
                ? null : continuingSubwordPrefix;
        this.endOfWordSuffix = endOfWordSuffix == null || endOfWordSuffix.isEmpty() ? null : endOfWordSuffix;
        if (unkToken != null) {
            Integer id = vocab.get(unkToken);
            if (id == null) {
                throw new IllegalArgumentException("BPE unk_token '" + unkToken + "' is not in the vocabulary");
            }
            this.unkId = id;
        } else {
            this.unkId = -1;
        }
        bmpCharIds = new int[Character.MAX_VALUE + 1];
        Arrays.fill(bmpCharIds, -1);
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            String token = e.getKey();
            if (!token.isEmpty() && token.codePointCount(0, token.length()) == 1) {
                int cp = token.codePointAt(0);
                if (cp <= Character.MAX_VALUE) {
                    bmpCharIds[cp] = e.getValue();
                } else {
                    supplementaryCharIds.put(cp, e.getValue());
                }
            }
        }
        if (byteFallback) {
            byteFallbackIds = new int[256];
            for (int b = 0; b < 256; b++) {
                // tokenizers spells byte tokens with Rust's "{:#04X}": a lowercase 0x and two uppercase digits.
                Integer id = vocab.get(String.format("<0x%02X>", b));
                byteFallbackIds[b] = id == null ? -1 : id;
            }
        } else {
            byteFallbackIds = null;
        }
    }

    int vocabularySize() {
        return idToToken.length;
    }

    /** The token with this id, or null when the id is outside the vocabulary or unused. */
    String token(int id) {
        return id >= 0 && id < idToToken.length ? idToToken[id] : null;
    }

    Integer id(String token) {
        return vocab.get(token);
    }

    /** Appends the ids of one pre-tokenized word. */
    void tokenize(String word, IntList out) {
        if (word.isEmpty()) {
            return;
        }
        int[] cached = cache.get(word);
        if (cached == null) {
            cached = merge(word);
            if (word.length() < CACHEABLE_WORD_LENGTH && cache.size() < CACHE_CAPACITY) {
                cache.put(word, cached);
            }
        }
        out.addAll(cached);
    }

    private int[] merge(String word) {
        if (ignoreMerges) {
            Integer whole = vocab.get(word);
            if (whole != null) {
                return new int[] {whole};
            }
        }
        IntList symbols = initialSymbols(word);
        int n = symbols.size();
        if (n < 2) {
            return symbols.toArray();
        }
        int[] ids = symbols.toArray();
        int[] prev = new int[n];
        int[] next = new int[n];
        boolean[] removed = new boolean[n];
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        // Candidate merges as rank << 32 | position: the smallest is the lowest rank, leftmost on ties.
        LongMinHeap queue = new LongMinHeap(n);
        for (int i = 0; i + 1 < n; i++) {
            long m = merges.get(ids[i], ids[i + 1]);
            if (m >= 0) {
                queue.push(((long) MergeTable.rank(m) << 32) | i);
            }
        }
        int remaining = n;
        while (!queue.isEmpty()) {
            long top = queue.pop();
            int pos = (int) top;
            int rank = (int) (top >>> 32);
            if (removed[pos] || next[pos] < 0) {
                continue;
            }
            int right = next[pos];
            long m = merges.get(ids[pos], ids[right]);
            if (m < 0 || MergeTable.rank(m) != rank) {
                continue; // stale: one side has merged since this candidate was queued
            }
            ids[pos] = MergeTable.mergedId(m);
            removed[right] = true;
            remaining--;
            next[pos] = next[right];
            if (next[right] >= 0) {
                prev[next[right]] = pos;
            }
            if (prev[pos] >= 0) {
                long left = merges.get(ids[prev[pos]], ids[pos]);
                if (left >= 0) {
                    queue.push(((long) MergeTable.rank(left) << 32) | prev[pos]);
                }
            }
            if (next[pos] >= 0) {
                long after = merges.get(ids[pos], ids[next[pos]]);
                if (after >= 0) {
                    queue.push(((long) MergeTable.rank(after) << 32) | pos);
                }
            }
        }
        int[] result = new int[remaining];
        for (int i = 0, j = 0; i >= 0; i = next[i]) {
            result[j++] = ids[i];
        }
        return result;
    }

    /**
     * One symbol per character; a character missing from the vocabulary becomes its UTF-8 byte tokens when
     * byte_fallback has them all, otherwise the unknown token (consecutive ones fused with fuse_unk), otherwise
     * nothing. Like tokenizers, a pending unknown token is only emitted when the next known character arrives.
     */
    private IntList initialSymbols(String word) {
        IntList symbols = new IntList(word.length());
        int pendingUnk = -1;
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            int end = i + Character.charCount(cp);
            int id;
            String piece = null;
            if (continuingSubwordPrefix == null && endOfWordSuffix == null) {
                id = cp <= Character.MAX_VALUE ? bmpCharIds[cp] : supplementaryCharIds.getOrDefault(cp, -1);
            } else {
                piece = word.substring(i, end);
                if (i > 0 && continuingSubwordPrefix != null) {
                    piece = continuingSubwordPrefix + piece;
                }
                if (end == word.length() && endOfWordSuffix != null) {
                    piece = piece + endOfWordSuffix;
                }
                id = vocab.getOrDefault(piece, -1);
            }
            if (id >= 0) {
                if (pendingUnk >= 0) {
                    symbols.add(unkId);
                    pendingUnk = -1;
                }
                symbols.add(id);
            } else if (byteFallbackIds != null && addByteFallback(piece != null ? piece : word.substring(i, end), symbols)) {
                // bytes added
            } else if (unkId >= 0) {
                if (pendingUnk >= 0 && !fuseUnk) {
                    symbols.add(unkId);
                }
                pendingUnk = unkId;
            }
            i = end;
        }
        if (pendingUnk >= 0) {
            symbols.add(unkId);
        }
        return symbols;
    }

    private boolean addByteFallback(String piece, IntList symbols) {
        byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
        for (byte b : bytes) {
            if (byteFallbackIds[b & 0xFF] < 0) {
                return false;
            }
        }
        for (byte b : bytes) {
            symbols.add(byteFallbackIds[b & 0xFF]);
        }
        return true;
    }

    /** A binary min-heap of longs, so queued merges are not boxed. */
    private static final class LongMinHeap {
        private long[] heap;
        private int size;

        LongMinHeap(int capacity) {
            heap = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void push(long v) {
            if (size == heap.length) {
                heap = Arrays.copyOf(heap, size * 2);
            }
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (heap[parent] <= v) {
                    break;
                }
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = v;
        }

        long pop() {
            long top = heap[0];
            long last = heap[--size];
            int i = 0;
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) {
                    break;
                }
                if (child + 1 < size && heap[child + 1] < heap[child]) {
                    child++;
                }
                if (heap[child] >= last) {
                    break;
                }
                heap[i] = heap[child];
                i = child;
            }
            heap[i] = last;
            return top;
        }
    }
}
