package ai.parallax.p2p.yamux;

import ai.parallax.p2p.P2pException;
import ai.parallax.p2p.P2pStream;
import ai.parallax.p2p.StreamHandler;
import ai.parallax.p2p.identity.PeerId;
import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoop;

import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;

/**
 * One Yamux stream. Outbound bytes wait in a queue until the peer's window and the socket allow them out; inbound
 * bytes go to the {@link StreamHandler}, and credit returns to the peer once the handler has consumed them, in
 * window updates of at least half the window so that updates stay rare (yamux spec, "Flow Control").
 */
public final class YamuxStream implements P2pStream {
    private record PendingWrite(ByteBuf data, CompletableFuture<Void> done) {
    }

    private static final System.Logger LOG = System.getLogger(YamuxStream.class.getName());

    private final YamuxSession session;
    private final int id;
    private final ArrayDeque<PendingWrite> queue = new ArrayDeque<>();
    boolean inbound;
    private volatile String protocol;
    private volatile StreamHandler handler;
    private long sendWindow = YamuxConfig.INITIAL_WINDOW;
    private long receiveWindow;
    private long unacknowledged;
    private volatile long pendingBytes; // written on the event loop, read from any thread
    private long heldBytes;             // reserved by the handler against the receive budgets
    private boolean finRequested;
    private boolean finSent;
    private boolean remoteClosed;
    private boolean reset;

    YamuxStream(YamuxSession session, int id) {
        this.session = session;
        this.id = id;
        this.receiveWindow = session.config().receiveWindow();
    }

    @Override
    public int id() {
        return id;
    }

    @Override
    public String protocol() {
        return protocol;
    }

    public void protocol(String protocol) {
        this.protocol = protocol;
    }

    @Override
    public PeerId remotePeer() {
        return session.remotePeer();
    }

    @Override
    public EventLoop eventLoop() {
        return session.ctx().channel().eventLoop();
    }

    @Override
    public void handler(StreamHandler handler) {
        this.handler = handler;
    }

    @Override
    public long pendingWriteBytes() {
        return pendingBytes;
    }

    @Override
    public boolean reserveReceived(long bytes) {
        assert eventLoop().inEventLoop();
        if (reset || !session.reserveHeld(bytes)) {
            return false;
        }
        heldBytes += bytes;
        return true;
    }

    @Override
    public void releaseReceived(long bytes) {
        assert eventLoop().inEventLoop();
        long n = Math.min(bytes, heldBytes); // a reset already returned everything
        heldBytes -= n;
        session.releaseHeld(n);
    }

    @Override
    public CompletableFuture<Void> write(ByteBuf data) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        EventLoop loop = eventLoop();
        if (loop.inEventLoop()) {
            enqueue(data, done);
        } else {
            loop.execute(() -> enqueue(data, done));
        }
        return done;
    }

    private void enqueue(ByteBuf data, CompletableFuture<Void> done) {
        if (reset || finRequested) {
            data.release();
            done.completeExceptionally(new P2pException("stream " + id + " to " + remotePeer() + " is "
                    + (reset ? "reset" : "closed for writing")));
            return;
        }
        int n = data.readableBytes();
        if (!session.reservePending(n)) {
            data.release();
            done.completeExceptionally(new P2pException("connection to " + remotePeer() + " already has "
                    + session.config().maxPendingWriteBytes() + " bytes pending; wait for earlier writes"));
            return;
        }
        pendingBytes += n;
        queue.add(new PendingWrite(data, done));
        drain();
        session.ctx().flush();
    }

    /** Moves queued bytes into Data frames while the peer's window and the socket allow. */
    void drain() {
        while (!queue.isEmpty() && !reset && session.channelWritable()) {
            PendingWrite head = queue.peek();
            int available = head.data.readableBytes();
            if (available > 0 && sendWindow == 0) {
                return;
            }
            int n = (int) Math.min(Math.min(available, sendWindow), session.config().maxDataFrame());
            boolean last = n == available;
            if (n > 0) {
                ByteBuf slice = last ? head.data : head.data.readRetainedSlice(n);
                var written = session.writeData(id, 0, slice);
                sendWindow -= n;
                pendingBytes -= n;
                session.releasePending(n);
                if (last) {
                    written.addListener(f -> {
                        if (f.isSuccess()) {
                            head.done.complete(null);
                        } else {
                            head.done.completeExceptionally(new P2pException("write to " + remotePeer() + " failed", f.cause()));
                        }
                    });
                }
            } else {
                head.data.release();
                head.done.complete(null);
            }
            if (last) {
                queue.poll();
            }
        }
        if (queue.isEmpty() && finRequested && !finSent && !reset) {
            finSent = true;
            session.writeFrame(YamuxFrame.TYPE_WINDOW_UPDATE, YamuxFrame.FLAG_FIN, id, 0);
            closeIfDone();
        }
    }

    @Override
    public void closeWrite() {
        run(() -> {
            if (!finRequested) {
                finRequested = true;
                drain();
                session.ctx().flush();
            }
        });
    }

    @Override
    public void reset() {
        run(() -> {
            if (!reset) {
                session.writeFrame(YamuxFrame.TYPE_WINDOW_UPDATE, YamuxFrame.FLAG_RST, id, 0);
                session.ctx().flush();
                abort(new P2pException("stream " + id + " was reset locally"));
            }
        });
    }

    private void run(Runnable r) {
        EventLoop loop = eventLoop();
        if (loop.inEventLoop()) {
            r.run();
        } else {
            loop.execute(r);
        }
    }

    // ---- called by the session on the event loop ----

    void addSendWindow(long delta) throws YamuxException {
        sendWindow += delta;
        if (sendWindow > 0xFFFFFFFFL) {
            throw new YamuxException("stream " + id + ": window update grows the send window past 2^32-1");
        }
        drain();
    }

    void receive(ByteBuf data) throws YamuxException {
        int n = data.readableBytes();
        if (remoteClosed) {
            throw new YamuxException("stream " + id + ": data after the peer's FIN");
        }
        if (n > receiveWindow) {
            throw new YamuxException("stream " + id + ": peer sent " + n + " bytes into a window of " + receiveWindow);
        }
        receiveWindow -= n;
        StreamHandler h = handler;
        if (h != null && !reset) {
            try {
                h.onData(this, data);
            } catch (RuntimeException e) {
                // A failing handler costs its stream, not the connection and the peer's other streams.
                LOG.log(System.Logger.Level.WARNING, "resetting " + this + ": its handler failed", e);
                reset();
            }
        }
        // The handler is done with the bytes: return the credit, batched to half a window.
        unacknowledged += n;
        if (!reset && !remoteClosed && unacknowledged >= session.config().receiveWindow() / 2) {
            session.writeFrame(YamuxFrame.TYPE_WINDOW_UPDATE, 0, id, unacknowledged);
            receiveWindow += unacknowledged;
            unacknowledged = 0;
        }
    }

    void remoteFin() {
        if (remoteClosed || reset) {
            return;
        }
        remoteClosed = true;
        StreamHandler h = handler;
        if (h != null) {
            h.onRemoteClose(this);
        }
        closeIfDone();
    }

    void remoteReset() {
        abort(new P2pException("stream " + id + " was reset by " + remotePeer()));
    }

    void abort(Throwable cause) {
        if (reset) {
            return;
        }
        reset = true;
        for (PendingWrite w : queue) {
            session.releasePending(w.data.readableBytes());
            w.data.release();
            w.done.completeExceptionally(cause);
        }
        queue.clear();
        pendingBytes = 0;
        session.releaseHeld(heldBytes);
        heldBytes = 0;
        session.removed(this);
        StreamHandler h = handler;
        if (h != null) {
            h.onReset(this, cause);
        }
    }

    private void closeIfDone() {
        if (finSent && remoteClosed) {
            session.removed(this);
        }
    }

    @Override
    public String toString() {
        return "stream " + id + " (" + protocol + ") to " + remotePeer();
    }
}
