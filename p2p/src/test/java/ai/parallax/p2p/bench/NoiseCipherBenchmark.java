package ai.parallax.p2p.bench;

import ai.parallax.p2p.noise.CipherState;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The per-message work of the Noise transport, one thread, timed in thread CPU time so that a loaded machine does
 * not distort it: direct {@code ByteBuffer}s through the JDK cipher (what the decryptor and encryptor did before: the
 * JDK copies them into a fresh array and back) against gathering into a heap array and working in place (what they
 * do now). Run with {@code ./dev mvn -q -B -o -pl p2p test -Dtest=NoiseCipherBenchmark -Dparallax.bench=true}.
 */
@EnabledIfSystemProperty(named = "parallax.bench", matches = "true")
class NoiseCipherBenchmark {
    private static final int PLAIN = 65519;
    private static final int MESSAGES = 8192; // 512 MiB per measurement
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    @Test
    void directBuffersAgainstInPlaceArrays() throws Exception {
        byte[] key = new byte[32];
        new Random(1).nextBytes(key);
        ByteBuf plain = PooledByteBufAllocator.DEFAULT.directBuffer(PLAIN).writeZero(PLAIN);
        ByteBuf wire = PooledByteBufAllocator.DEFAULT.directBuffer(PLAIN + 16);
        byte[] scratch = new byte[PLAIN + 16];
        for (int round = 0; round < 3; round++) {
            boolean report = round == 2;
            // encryption
            CipherState enc = new CipherState(key);
            long t = THREADS.getCurrentThreadCpuTime();
            for (int i = 0; i < MESSAGES; i++) {
                enc.encrypt(plain.nioBuffers(0, PLAIN), wire.nioBuffer(0, PLAIN + 16));
            }
            report(report, "encrypt, direct buffers (before)", THREADS.getCurrentThreadCpuTime() - t);
            CipherState enc2 = new CipherState(key);
            t = THREADS.getCurrentThreadCpuTime();
            for (int i = 0; i < MESSAGES; i++) {
                plain.getBytes(0, scratch, 0, PLAIN);
                enc2.encryptInPlace(scratch, 0, PLAIN);
                wire.setBytes(0, scratch, 0, PLAIN + 16);
            }
            report(report, "encrypt, gathered in place (now)", THREADS.getCurrentThreadCpuTime() - t);

            // decryption of messages produced by a sender with the same key
            CipherState sender = new CipherState(key);
            ByteBuf[] messages = new ByteBuf[64];
            for (int i = 0; i < messages.length; i++) {
                messages[i] = PooledByteBufAllocator.DEFAULT.directBuffer(PLAIN + 16);
                byte[] m = new byte[PLAIN + 16];
                sender.encryptInPlace(m, 0, PLAIN);
                messages[i].writeBytes(m);
            }
            CipherState dec = new CipherState(key);
            t = THREADS.getCurrentThreadCpuTime();
            for (int i = 0; i < messages.length; i++) {
                ByteBuf out = PooledByteBufAllocator.DEFAULT.directBuffer(PLAIN);
                dec.decrypt(messages[i].nioBuffers(0, PLAIN + 16), out.nioBuffer(0, PLAIN));
                out.release();
            }
            long before = THREADS.getCurrentThreadCpuTime() - t;
            CipherState dec2 = new CipherState(key);
            t = THREADS.getCurrentThreadCpuTime();
            for (int i = 0; i < messages.length; i++) {
                ByteBuf out = PooledByteBufAllocator.DEFAULT.heapBuffer(PLAIN + 16);
                messages[i].getBytes(0, out.array(), out.arrayOffset(), PLAIN + 16);
                assertThat(dec2.decryptInPlace(out.array(), out.arrayOffset(), PLAIN + 16)).isEqualTo(PLAIN);
                out.release();
            }
            long now = THREADS.getCurrentThreadCpuTime() - t;
            for (ByteBuf m : messages) {
                m.release();
            }
            report(report, "decrypt, direct buffers (before)", before * (MESSAGES / messages.length));
            report(report, "decrypt, gathered in place (now)", now * (MESSAGES / messages.length));
        }
        plain.release();
        wire.release();
    }

    private static void report(boolean report, String what, long cpuNanos) {
        if (report) {
            long bytes = (long) MESSAGES * PLAIN;
            System.out.printf("%-34s %6.0f MB per CPU-second%n", what + ":", bytes / 1e6 / (cpuNanos / 1e9));
        }
    }
}
