package ai.parallax.p2p.rpc;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class FrameCodecReaderTest {
    /** Frames of assorted sizes (0, tiny, just under and over the copy threshold, large), framed back to back. */
    private static List<byte[]> frames(Random r) {
        List<byte[]> out = new ArrayList<>();
        for (int size : new int[]{0, 1, 127, 128, 300, FrameCodec.Reader.COPY_BELOW - 1, FrameCodec.Reader.COPY_BELOW,
                100_000, 0, 5, 1 << 20}) {
            byte[] b = new byte[size];
            r.nextBytes(b);
            out.add(b);
        }
        return out;
    }

    private static byte[] wire(List<byte[]> frames) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] f : frames) {
            ByteBuf framed = FrameCodec.frame(ByteBufAllocator.DEFAULT, Unpooled.wrappedBuffer(f));
            out.writeBytes(ByteBufUtil.getBytes(framed));
            framed.release();
        }
        return out.toByteArray();
    }

    @Test
    void framesSurviveAnySplitOfTheStream() {
        Random r = new Random(42);
        List<byte[]> sent = frames(r);
        byte[] wire = wire(sent);
        // chunk sizes from 1 byte (every length prefix split) to 70 000 (frames spanning chunks, slices and copies)
        for (int maxChunk : new int[]{1, 7, 1000, 20_000, 70_000, wire.length}) {
            List<byte[]> received = new ArrayList<>();
            try (FrameCodec.Reader reader = new FrameCodec.Reader(ByteBufAllocator.DEFAULT, 2 << 20, f -> {
                received.add(ByteBufUtil.getBytes(f));
                f.release();
            })) {
                int at = 0;
                while (at < wire.length) {
                    int n = Math.min(wire.length - at, 1 + r.nextInt(maxChunk));
                    ByteBuf chunk = Unpooled.directBuffer(n).writeBytes(wire, at, n);
                    reader.feed(chunk);
                    assertThat(chunk.readerIndex()).isZero(); // the caller's buffer is left as it was
                    chunk.release();                          // frames must stay valid after the chunk is released
                    at += n;
                }
                assertThat(reader.bufferedBytes()).isZero();
            }
            assertThat(received).as("chunks of up to %d bytes", maxChunk).hasSize(sent.size());
            for (int i = 0; i < sent.size(); i++) {
                assertThat(received.get(i)).as("frame %d, chunks of up to %d", i, maxChunk).isEqualTo(sent.get(i));
            }
        }
    }

    @Test
    void frameInsideOneChunkIsASliceOfItNotACopy() {
        ByteBuf chunk = Unpooled.directBuffer().writeBytes(wire(List.of(new byte[]{1, 2, 3})));
        List<ByteBuf> got = new ArrayList<>();
        try (FrameCodec.Reader reader = new FrameCodec.Reader(ByteBufAllocator.DEFAULT, 16, got::add)) {
            reader.feed(chunk);
        }
        assertThat(got).singleElement().satisfies(f -> {
            assertThat(f.memoryAddress()).isEqualTo(chunk.memoryAddress() + 1); // after the 1-byte length prefix
            f.release();
        });
        chunk.release();
    }

    @Test
    void oversizedLengthIsRefusedBeforeItsBytesArrive() {
        try (FrameCodec.Reader reader = new FrameCodec.Reader(ByteBufAllocator.DEFAULT, 1000, ByteBuf::release)) {
            ByteBuf prefix = Unpooled.buffer();
            ai.parallax.p2p.multiformats.Varint.write(1001, prefix);
            assertThatThrownBy(() -> reader.feed(prefix)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("1001 bytes exceeds the limit of 1000");
            // ten continuation bytes: no varint that long is a frame length
            ByteBuf endless = Unpooled.buffer().writeBytes(new byte[10]).setByte(0, 0x80);
            for (int i = 0; i < 10; i++) {
                endless.setByte(i, 0x80);
            }
            FrameCodec.Reader other = new FrameCodec.Reader(ByteBufAllocator.DEFAULT, Integer.MAX_VALUE, ByteBuf::release);
            assertThatThrownBy(() -> other.feed(endless)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("overlong length prefix");
        }
    }
}
