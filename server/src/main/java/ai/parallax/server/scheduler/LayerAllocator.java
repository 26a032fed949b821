package ai.parallax.server.scheduler;

import ai.parallax.models.LayerRange;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * Decides which nodes serve which layers (Parallax's two-phase allocation). A pure function of the node profiles
 * and the model footprint: no threads, no clock, and the same input always gives the same allocation.
 *
 * <ol>
 *   <li><b>How many pipelines.</b> For each k, s*(k) is the fewest nodes that build k complete pipelines, found by
 *       dynamic programming over the nodes' capacities in layers. The allocator picks the k that maximises
 *       k²/s*(k): throughput grows with k, and each node added to a pipeline adds a hop of latency.</li>
 *   <li><b>Layers within a pipeline.</b> Layers are split in proportion to each node's measured speed, capped by
 *       its capacity; what a capped node cannot take is poured over the others ("water-filling").</li>
 * </ol>
 *
 * <p>Nodes are first put in a fixed order (largest capacity first, then fastest, then by id), which makes the result
 * independent of the order they joined in. Up to {@value #EXACT_LIMIT} nodes, s*(k) is exact: a dynamic program over
 * subsets finds, for every set of nodes, the most pipelines it splits into. Beyond that, a dynamic program over the
 * ordered capacities fills one pipeline at a time from runs of the order (big nodes first, then the same with big and
 * small nodes alternating, keeping the better), which is polynomial but may miss interleaved groupings. Nodes not
 * needed stay on standby.
 */
public final class LayerAllocator {
    private static final int UNREACHABLE = Integer.MAX_VALUE;
    /** Clusters up to this size get the exact subset search (3^n steps: 531441 for 12 nodes). */
    static final int EXACT_LIMIT = 12;

    private LayerAllocator() {
    }

    public static Allocation allocate(List<NodeProfile> nodes, ModelFootprint model) {
        int layers = model.layers();
        List<NodeProfile> order = new ArrayList<>(nodes);
        long distinct = order.stream().map(NodeProfile::id).distinct().count();
        if (distinct != order.size()) {
            throw new IllegalArgumentException("node ids must be unique");
        }
        NodeCapacity[] caps = new NodeCapacity[order.size()];
        order.sort(Comparator.comparingInt((NodeProfile n) -> NodeCapacity.of(n, model).middle()).reversed()
                .thenComparing(Comparator.comparingDouble(NodeProfile::speed).reversed())
                .thenComparing(NodeProfile::id));
        for (int i = 0; i < caps.length; i++) {
            caps[i] = NodeCapacity.of(order.get(i), model);
        }
        List<List<Integer>> groups = order.size() <= EXACT_LIMIT ? SubsetSearch.best(caps, layers)
                : bestOfOrders(caps, layers);
        if (groups.isEmpty()) {
            throw notEnoughMemory(order, model);
        }
        boolean[] used = new boolean[order.size()];
        List<Allocation.Pipeline> pipelines = new ArrayList<>();
        for (List<Integer> group : groups) {
            List<NodeProfile> members = new ArrayList<>();
            int[] capacity = new int[group.size()];
            for (int i = 0; i < group.size(); i++) {
                int node = group.get(i);
                used[node] = true;
                members.add(order.get(node));
                capacity[i] = caps[node].in(i == 0, i == group.size() - 1);
            }
            pipelines.add(split(members, capacity, layers));
        }
        List<String> standby = new ArrayList<>();
        for (int i = 0; i < order.size(); i++) {
            if (!used[i]) {
                standby.add(order.get(i).id());
            }
        }
        return new Allocation(pipelines, standby);
    }

    /** Runs the ordered dynamic program on two orders of the nodes and keeps the better k²/s. */
    private static List<List<Integer>> bestOfOrders(NodeCapacity[] caps, int layers) {
        int n = caps.length;
        int[] bigFirst = new int[n];
        int[] alternating = new int[n];
        for (int i = 0; i < n; i++) {
            bigFirst[i] = i;
            alternating[i] = i % 2 == 0 ? i / 2 : n - 1 - i / 2;
        }
        List<List<Integer>> best = List.of();
        for (int[] permutation : new int[][] {bigFirst, alternating}) {
            NodeCapacity[] permuted = new NodeCapacity[n];
            for (int i = 0; i < n; i++) {
                permuted[i] = caps[permutation[i]];
            }
            List<List<Integer>> groups = new Table(permuted, layers).bestGroups();
            List<List<Integer>> mapped = new ArrayList<>();
            for (List<Integer> g : groups) {
                mapped.add(g.stream().map(i -> permutation[i]).toList());
            }
            if (better(mapped, best)) {
                best = mapped;
            }
        }
        return best;
    }

    /** More k²/s, or the same with fewer nodes. */
    private static boolean better(List<List<Integer>> a, List<List<Integer>> b) {
        if (a.isEmpty()) {
            return false;
        }
        if (b.isEmpty()) {
            return true;
        }
        long ka = a.size(), kb = b.size();
        long sa = a.stream().mapToLong(List::size).sum(), sb = b.stream().mapToLong(List::size).sum();
        return ka * ka * sb > kb * kb * sa || (ka * ka * sb == kb * kb * sa && sa < sb);
    }

    /**
     * Exact search for small clusters: for every subset of nodes, the most pipelines it splits into with every node
     * used ({@code most[mask]}), by trying each feasible group that holds the subset's lowest node. Then the subset
     * with the best k²/|subset| wins (ties: fewer nodes, then the lower mask, i.e. the bigger nodes).
     */
    private static final class SubsetSearch {
        static List<List<Integer>> best(NodeCapacity[] caps, int layers) {
            int n = caps.length;
            int full = 1 << n;
            List<Integer>[] pipelineOf = new List[full];
            for (int mask = 1; mask < full; mask++) {
                pipelineOf[mask] = orderAsPipeline(caps, mask, layers);
            }
            int[] most = new int[full];
            int[] choice = new int[full];
            java.util.Arrays.fill(most, -1);
            most[0] = 0;
            for (int mask = 1; mask < full; mask++) {
                int low = mask & -mask;
                int rest = mask ^ low;
                // every sub-mask of rest, plus the lowest node
                for (int sub = rest; ; sub = (sub - 1) & rest) {
                    int group = sub | low;
                    if (pipelineOf[group] != null && most[mask ^ group] >= 0 && most[mask ^ group] + 1 > most[mask]) {
                        most[mask] = most[mask ^ group] + 1;
                        choice[mask] = group;
                    }
                    if (sub == 0) {
                        break;
                    }
                }
            }
            int bestMask = 0;
            for (int mask = 1; mask < full; mask++) {
                if (most[mask] <= 0) {
                    continue;
                }
                if (bestMask == 0) {
                    bestMask = mask;
                    continue;
                }
                long k = most[mask], s = Integer.bitCount(mask);
                long bk = most[bestMask], bs = Integer.bitCount(bestMask);
                if (k * k * bs > bk * bk * s || (k * k * bs == bk * bk * s && s < bs)) {
                    bestMask = mask;
                }
            }
            List<List<Integer>> groups = new ArrayList<>();
            for (int mask = bestMask; mask != 0; mask ^= choice[mask]) {
                groups.add(pipelineOf[choice[mask]]);
            }
            return groups;
        }

        /**
         * The nodes of {@code mask} as one pipeline, stages in order, or null if they cannot hold every layer. The
         * first and last stages are the pair that leaves the most room (ties: lower indices); the middles keep
         * their order.
         */
        private static List<Integer> orderAsPipeline(NodeCapacity[] caps, int mask, int layers) {
            List<Integer> nodes = new ArrayList<>();
            for (int i = 0; i < caps.length; i++) {
                if ((mask & (1 << i)) != 0) {
                    nodes.add(i);
                }
            }
            if (nodes.size() == 1) {
                return caps[nodes.getFirst()].whole() >= layers ? nodes : null;
            }
            if (nodes.size() > layers) {
                return null;
            }
            long middles = 0;
            for (int i : nodes) {
                if (caps[i].middle() < 1) {
                    return null; // a node that cannot hold a layer as a middle stage holds none anywhere
                }
                middles += caps[i].middle();
            }
            int bestF = -1, bestL = -1;
            long bestSum = -1;
            for (int f : nodes) {
                for (int l : nodes) {
                    if (f == l || caps[f].first() < 1 || caps[l].last() < 1) {
                        continue;
                    }
                    long sum = middles - caps[f].middle() - caps[l].middle() + caps[f].first() + caps[l].last();
                    if (sum > bestSum) {
                        bestSum = sum;
                        bestF = f;
                        bestL = l;
                    }
                }
            }
            if (bestSum < layers) {
                return null;
            }
            List<Integer> ordered = new ArrayList<>();
            ordered.add(bestF);
            for (int i : nodes) {
                if (i != bestF && i != bestL) {
                    ordered.add(i);
                }
            }
            ordered.add(bestL);
            return ordered;
        }
    }

    /**
     * Splits {@code layers} over the stages in proportion to speed, each capped by its capacity, at least one layer
     * each (water-filling, then largest-remainder rounding; ties go to the earlier stage).
     */
    static Allocation.Pipeline split(List<NodeProfile> stages, int[] capacity, int layers) {
        int n = stages.size();
        double[] share = waterFill(stages, capacity, layers);
        int[] count = new int[n];
        int sum = 0;
        for (int i = 0; i < n; i++) {
            count[i] = Math.clamp((long) Math.floor(share[i] + 1e-9), 1, capacity[i]);
            sum += count[i];
        }
        while (sum < layers) { // give a layer to the stage furthest below its share that has room
            int pick = -1;
            for (int i = 0; i < n; i++) {
                if (count[i] < capacity[i] && (pick < 0 || share[i] - count[i] > share[pick] - count[pick] + 1e-12)) {
                    pick = i;
                }
            }
            if (pick < 0) {
                throw new IllegalStateException("stages of capacity " + Arrays.toString(capacity) + " cannot hold "
                        + layers + " layers");
            }
            count[pick]++;
            sum++;
        }
        while (sum > layers) { // only when the one-layer minimum pushed stages above their share
            int pick = -1;
            for (int i = 0; i < n; i++) {
                if (count[i] > 1 && (pick < 0 || count[i] - share[i] > count[pick] - share[pick] + 1e-12)) {
                    pick = i;
                }
            }
            count[pick]--;
            sum--;
        }
        List<Allocation.Stage> result = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < n; i++) {
            result.add(new Allocation.Stage(stages.get(i).id(), new LayerRange(start, start + count[i], layers)));
            start += count[i];
        }
        return new Allocation.Pipeline(result);
    }

    /** Real-valued shares proportional to speed, none above its capacity, summing to {@code layers}. */
    static double[] waterFill(List<NodeProfile> stages, int[] capacity, int layers) {
        int n = stages.size();
        double[] share = new double[n];
        boolean[] capped = new boolean[n];
        double remaining = layers;
        while (true) {
            double speed = 0;
            for (int i = 0; i < n; i++) {
                if (!capped[i]) {
                    speed += stages.get(i).speed();
                }
            }
            if (speed == 0) {
                return share;
            }
            boolean changed = false;
            for (int i = 0; i < n; i++) {
                if (!capped[i] && remaining * stages.get(i).speed() / speed > capacity[i]) {
                    capped[i] = true;
                    share[i] = capacity[i];
                    remaining -= capacity[i];
                    changed = true;
                }
            }
            if (!changed) {
                for (int i = 0; i < n; i++) {
                    if (!capped[i]) {
                        share[i] = remaining * stages.get(i).speed() / speed;
                    }
                }
                return share;
            }
        }
    }

    private static InsufficientMemoryException notEnoughMemory(List<NodeProfile> nodes, ModelFootprint model) {
        long offered = nodes.stream().mapToLong(NodeProfile::memoryBytes).sum();
        long needed = model.wholeModelBytes();
        // Layers do not split across nodes, so each node wastes up to one layer's worth of memory.
        long missing = Math.max(model.bytesPerLayer(), needed - offered);
        return new InsufficientMemoryException(String.format(Locale.ROOT,
                "%d node%s offer %s but one copy of the model needs about %s (%d layers of %s each with KV reserve, "
                        + "embedding %s, LM head %s): add at least %s more memory", nodes.size(),
                nodes.size() == 1 ? "" : "s", bytes(offered), bytes(needed), model.layers(),
                bytes(model.bytesPerLayer()), bytes(model.embeddingBytes()), bytes(model.headBytes()), bytes(missing)),
                missing);
    }

    static String bytes(long b) {
        if (b >= 1L << 30) {
            return String.format(Locale.ROOT, "%.2f GiB", b / (double) (1L << 30));
        }
        if (b >= 1L << 20) {
            return String.format(Locale.ROOT, "%.1f MiB", b / (double) (1L << 20));
        }
        if (b >= 1L << 10) {
            return String.format(Locale.ROOT, "%.1f KiB", b / 1024.0);
        }
        return b + " B";
    }

    /**
     * The dynamic program: after the first i nodes, for j complete pipelines and an open pipeline holding r layers
     * (r = 0: none open), the fewest nodes used. Transitions: skip node i; start a pipeline with it (as the only
     * stage, or as the first); extend the open one with it (as a middle stage, or as the last, closing it).
     */
    private static final class Table {
        private final NodeCapacity[] caps;
        private final int layers;
        private final int n;
        private final int[][][] best; // [i][j][r]
        private final byte[][][] move;
        private final int[][][] from; // previous r

        private static final byte SKIP = 0, ONLY = 1, FIRST = 2, MIDDLE = 3, LAST = 4;

        Table(NodeCapacity[] caps, int layers) {
            this.caps = caps;
            this.layers = layers;
            this.n = caps.length;
            best = new int[n + 1][n + 1][layers];
            move = new byte[n + 1][n + 1][layers];
            from = new int[n + 1][n + 1][layers];
            for (int[][] a : best) {
                for (int[] b : a) {
                    Arrays.fill(b, UNREACHABLE);
                }
            }
            best[0][0][0] = 0;
            for (int i = 0; i < n; i++) {
                NodeCapacity c = caps[i];
                for (int j = 0; j <= i; j++) {
                    for (int r = 0; r < layers; r++) {
                        int v = best[i][j][r];
                        if (v == UNREACHABLE) {
                            continue;
                        }
                        relax(i + 1, j, r, v, SKIP, r);
                        if (r == 0) {
                            if (c.whole() >= layers) {
                                relax(i + 1, j + 1, 0, v + 1, ONLY, r);
                            }
                            if (c.first() >= 1 && layers > 1) {
                                relax(i + 1, j, Math.min(c.first(), layers - 1), v + 1, FIRST, r);
                            }
                        } else {
                            if (c.last() >= 1 && r + c.last() >= layers) {
                                relax(i + 1, j + 1, 0, v + 1, LAST, r);
                            }
                            if (c.middle() >= 1) {
                                relax(i + 1, j, Math.min(r + c.middle(), layers - 1), v + 1, MIDDLE, r);
                            }
                        }
                    }
                }
            }
        }

        private void relax(int i, int j, int r, int value, byte how, int prevR) {
            if (value < best[i][j][r]) {
                best[i][j][r] = value;
                move[i][j][r] = how;
                from[i][j][r] = prevR;
            }
        }

        /** The groups of the k with the best k²/s*(k) (ties: fewer nodes); empty if no pipeline can be built. */
        List<List<Integer>> bestGroups() {
            int bestK = 0;
            int bestNodes = 0;
            for (int k = 1; k <= n; k++) {
                int s = fewestNodes(k);
                if (s == UNREACHABLE) {
                    break;
                }
                if (bestK == 0 || (long) k * k * bestNodes > (long) bestK * bestK * s
                        || ((long) k * k * bestNodes == (long) bestK * bestK * s && s < bestNodes)) {
                    bestK = k;
                    bestNodes = s;
                }
            }
            return bestK == 0 ? List.of() : groups(bestK);
        }

        int fewestNodes(int k) {
            return k <= n ? best[n][k][0] : UNREACHABLE;
        }

        /** The node indices of each of the k pipelines, stages in order. */
        List<List<Integer>> groups(int k) {
            List<List<Integer>> groups = new ArrayList<>();
            List<Integer> current = new ArrayList<>();
            int j = k;
            int r = 0;
            for (int i = n; i > 0; i--) {
                byte how = move[i][j][r];
                int prevR = from[i][j][r];
                int node = i - 1;
                switch (how) {
                    case ONLY -> {
                        groups.addFirst(List.of(node));
                        j--;
                    }
                    case LAST -> {
                        current = new ArrayList<>();
                        current.add(node);
                        j--;
                    }
                    case MIDDLE -> current.addFirst(node);
                    case FIRST -> {
                        current.addFirst(node);
                        groups.addFirst(List.copyOf(current));
                        current = new ArrayList<>();
                    }
                    default -> {
                    }
                }
                r = prevR;
            }
            return groups;
        }
    }
}
