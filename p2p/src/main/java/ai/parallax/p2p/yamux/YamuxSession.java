package ai.parallax.p2p.yamux;

import ai.parallax.p2p.P2pException;
import ai.parallax.p2p.identity.PeerId;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * One Yamux session over a secured connection: it opens and accepts streams, enforces flow-control windows and the
 * stream limit, answers pings and handles go-away. All state is touched only on the channel's event loop; public
 * methods hop there. The dialer uses odd stream ids and the listener even ones (yamux spec, "StreamID").
 */
public final class YamuxSession extends ChannelInboundHandlerAdapter {
    private final boolean dialer;
    private final PeerId remotePeer;
    private final YamuxConfig config;
    private final Consumer<YamuxStream> inboundStreams;
    private final ReceiveBudget nodeBudget;
    private final Map<Integer, YamuxStream> streams = new HashMap<>();
    private final Map<Integer, CompletableFuture<Long>> pings = new HashMap<>();
    private final Map<Integer, Long> startTimes = new HashMap<>();
    private final AtomicInteger pingIds = new AtomicInteger();
    private ChannelHandlerContext ctx;
    private int nextStreamId;
    private int inboundCount;
    private long pendingWriteBytes;
    private long heldBytes;
    private long controlBacklog;
    private boolean goAwayReceived;
    private boolean closed;
    private boolean failed;

    public YamuxSession(boolean dialer, PeerId remotePeer, YamuxConfig config, Consumer<YamuxStream> inboundStreams) {
        this(dialer, remotePeer, config, new ReceiveBudget(config.maxHeldBytes()), inboundStreams);
    }

    /** @param nodeBudget shared by all sessions of a node, capping what their handlers hold together */
    public YamuxSession(boolean dialer, PeerId remotePeer, YamuxConfig config, ReceiveBudget nodeBudget,
                        Consumer<YamuxStream> inboundStreams) {
        this.nodeBudget = nodeBudget;
        this.dialer = dialer;
        this.remotePeer = remotePeer;
        this.config = config;
        this.inboundStreams = inboundStreams;
        this.nextStreamId = dialer ? 1 : 2;
    }

    public PeerId remotePeer() {
        return remotePeer;
    }

    YamuxConfig config() {
        return config;
    }

    ChannelHandlerContext ctx() {
        return ctx;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    /**
     * Opens a new outbound stream. {@code init} runs on the event loop right after the SYN is queued and before it
     * is flushed, so the stream has its handler before the peer can possibly answer.
     */
    public CompletableFuture<YamuxStream> openStream(Consumer<YamuxStream> init) {
        CompletableFuture<YamuxStream> result = new CompletableFuture<>();
        ctx.executor().execute(() -> {
            if (closed || goAwayReceived) {
                result.completeExceptionally(new P2pException("connection to " + remotePeer + " is "
                        + (closed ? "closed" : "going away") + "; no new streams"));
                return;
            }
            int id = nextStreamId;
            nextStreamId += 2;
            YamuxStream s = new YamuxStream(this, id);
            streams.put(id, s);
            // SYN on a window update that also grows the peer's view of our window beyond the initial 256 KiB.
            writeFrame(YamuxFrame.TYPE_WINDOW_UPDATE, YamuxFrame.FLAG_SYN, id, config.receiveWindow() - YamuxConfig.INITIAL_WINDOW);
            // Still in this event-loop task, so no inbound frame can reach the stream before its handler is set.
            try {
                init.accept(s);
            } catch (RuntimeException e) {
                s.reset();
                result.completeExceptionally(e);
                return;
            }
            ctx.flush();
            result.complete(s);
        });
        return result;
    }

    /** Round-trip time of a Yamux ping, in nanoseconds. */
    public CompletableFuture<Long> ping() {
        CompletableFuture<Long> result = new CompletableFuture<>();
        ctx.executor().execute(() -> {
            int opaque = pingIds.incrementAndGet();
            pings.put(opaque, result);
            startTimes.put(opaque, System.nanoTime());
            writeFrame(YamuxFrame.TYPE_PING, YamuxFrame.FLAG_SYN, 0, opaque & 0xFFFFFFFFL);
            ctx.flush();
        });
        return result;
    }


    /** Sends a normal go-away and closes the connection once it is written. */
    public void close() {
        ctx.executor().execute(() -> {
            if (!closed) {
                closed = true;
                ctx.writeAndFlush(YamuxFrame.header(ctx.alloc(), YamuxFrame.TYPE_GO_AWAY, 0, 0, YamuxFrame.GO_AWAY_NORMAL))
                        .addListener(ChannelFutureListener.CLOSE);
            }
        });
    }

    public int openStreamCount() {
        return streams.size();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        if (!(msg instanceof YamuxFrame frame) || failed) {
            ReferenceCountUtil.release(msg); // after a protocol error, the rest of what arrived is dropped unread
            return;
        }
        try {
            handle(frame);
        } finally {
            if (frame.data() != null) {
                frame.data().release();
            }
        }
    }

    private void handle(YamuxFrame f) throws YamuxException {
        switch (f.type()) {
            case YamuxFrame.TYPE_PING -> {
                if (f.has(YamuxFrame.FLAG_SYN)) {
                    answerControl();
                    writeFrame(YamuxFrame.TYPE_PING, YamuxFrame.FLAG_ACK, 0, f.length());
                } else if (f.has(YamuxFrame.FLAG_ACK)) {
                    int opaque = (int) f.length();
                    CompletableFuture<Long> p = pings.remove(opaque);
                    Long start = startTimes.remove(opaque);
                    if (p != null && start != null) {
                        p.complete(System.nanoTime() - start);
                    }
                }
            }
            case YamuxFrame.TYPE_GO_AWAY -> goAwayReceived = true;
            default -> handleStreamFrame(f);
        }
    }

    private void handleStreamFrame(YamuxFrame f) throws YamuxException {
        int id = f.streamId();
        YamuxStream s = streams.get(id);
        if (f.has(YamuxFrame.FLAG_SYN)) {
            if (id == 0 || (id % 2 == 1) == dialer) {
                throw new YamuxException("peer opened stream " + id + " with our parity");
            }
            if (s != null) {
                throw new YamuxException("peer opened stream " + id + " twice");
            }
            if (inboundCount >= config.maxInboundStreams() || closed) {
                answerControl();
                writeFrame(YamuxFrame.TYPE_WINDOW_UPDATE, YamuxFrame.FLAG_RST, id, 0);
                return; // the frame's data, if any, is dropped with it
            }
            s = new YamuxStream(this, id);
            s.inbound = true;
            inboundCount++;
            streams.put(id, s);
            writeFrame(YamuxFrame.TYPE_WINDOW_UPDATE, YamuxFrame.FLAG_ACK, id,
                    config.receiveWindow() - YamuxConfig.INITIAL_WINDOW);
            inboundStreams.accept(s);
        }
        if (s == null) {
            return; // a frame racing our reset of a stream: nothing to deliver to
        }
        if (f.type() == YamuxFrame.TYPE_WINDOW_UPDATE) {
            s.addSendWindow(f.length());
        } else if (f.length() > 0) {
            s.receive(f.data());
        }
        if (f.has(YamuxFrame.FLAG_RST)) {
            s.remoteReset();
        } else if (f.has(YamuxFrame.FLAG_FIN)) {
            s.remoteFin();
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        ctx.flush();
        ctx.fireChannelReadComplete();
    }

    /**
     * Counts an answer we owe the peer for its control frame (a ping ack, a refused stream's reset). A peer that keeps
     * sending them while not reading our answers would grow our outbound buffer without bound; while the socket is
     * unwritable such answers are counted, and past {@link YamuxConfig#maxControlBacklog} the connection is closed.
     */
    private void answerControl() throws YamuxException {
        if (ctx.channel().isWritable()) {
            controlBacklog = 0;
            return;
        }
        controlBacklog += YamuxFrame.HEADER_BYTES;
        if (controlBacklog > config.maxControlBacklog()) {
            throw new YamuxException("peer " + remotePeer + " sent control frames needing " + controlBacklog
                    + " bytes of answers while not reading them (limit " + config.maxControlBacklog() + ")");
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable()) {
            controlBacklog = 0;
            for (YamuxStream s : new ArrayList<>(streams.values())) {
                s.drain();
            }
            ctx.flush();
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        closed = true;
        P2pException cause = new P2pException("connection to " + remotePeer + " closed");
        for (YamuxStream s : new ArrayList<>(streams.values())) {
            s.abort(cause);
        }
        streams.clear();
        for (CompletableFuture<Long> p : new ArrayList<>(pings.values())) {
            p.completeExceptionally(cause);
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // A protocol violation here, or in a handler below us, ends the session: tell the peer why, then close.
        failed = true;
        if (!closed && ctx.channel().isActive()) {
            int code = cause instanceof YamuxException ? YamuxFrame.GO_AWAY_PROTOCOL_ERROR : YamuxFrame.GO_AWAY_INTERNAL_ERROR;
            writeFrame(YamuxFrame.TYPE_GO_AWAY, 0, 0, code);
            ctx.flush();
        }
        ctx.fireExceptionCaught(cause);
    }

    // ---- used by YamuxStream, on the event loop ----

    void writeFrame(int type, int flags, int streamId, long length) {
        ctx.write(YamuxFrame.header(ctx.alloc(), type, flags, streamId, length), ctx.voidPromise());
    }

    io.netty.channel.ChannelFuture writeData(int streamId, int flags, ByteBuf data) {
        ByteBuf frame = ctx.alloc().compositeDirectBuffer(2)
                .addComponents(true, YamuxFrame.header(ctx.alloc(), YamuxFrame.TYPE_DATA, flags, streamId,
                        data.readableBytes()), data);
        return ctx.write(frame);
    }

    boolean reservePending(long n) {
        if (pendingWriteBytes + n > config.maxPendingWriteBytes()) {
            return false;
        }
        pendingWriteBytes += n;
        return true;
    }

    void releasePending(long n) {
        pendingWriteBytes -= n;
    }

    boolean reserveHeld(long n) {
        if (heldBytes + n > config.maxHeldBytes()) {
            return false;
        }
        if (!nodeBudget.reserve(n)) {
            return false;
        }
        heldBytes += n;
        return true;
    }

    void releaseHeld(long n) {
        heldBytes -= n;
        nodeBudget.release(n);
    }

    /** Bytes this connection's handlers hold in unfinished frames. */
    public long heldBytes() {
        return heldBytes;
    }

    boolean channelWritable() {
        return ctx.channel().isWritable();
    }

    void removed(YamuxStream s) {
        if (streams.remove(s.id()) != null && s.inbound) {
            inboundCount--;
        }
    }
}
