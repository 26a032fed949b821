package ai.parallax.p2p.multiformats;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class VarintTest {

    /** Examples from the multiformats unsigned-varint spec. */
    @Test
    void specExamples() {
        assertThat(hex(1)).isEqualTo("01");
        assertThat(hex(127)).isEqualTo("7f");
        assertThat(hex(128)).isEqualTo("8001");
        assertThat(hex(255)).isEqualTo("ff01");
        assertThat(hex(300)).isEqualTo("ac02");
        assertThat(hex(16384)).isEqualTo("808001");
        assertThat(Varint.size(16384)).isEqualTo(3);
    }

    @Test
    void incompleteVarintLeavesTheBufferAlone() {
        ByteBuf b = Unpooled.wrappedBuffer(new byte[] {(byte) 0x80, (byte) 0x80});
        assertThat(Varint.tryRead(b)).isEqualTo(Varint.INCOMPLETE);
        assertThat(b.readerIndex()).isZero();
        ByteBuf whole = Unpooled.wrappedBuffer(new byte[] {(byte) 0x80, (byte) 0x80, 0x01});
        assertThat(Varint.tryRead(whole)).isEqualTo(16384);
    }

    @Test
    void overlongAndNonMinimalVarintsAreRefused() {
        assertThatThrownBy(() -> Varint.tryRead(Unpooled.wrappedBuffer(HexFormat.of().parseHex("ffffffffffffffffff01"))))
                .hasMessageContaining("longer than 9 bytes");
        assertThatThrownBy(() -> Varint.read(HexFormat.of().parseHex("8100"), new int[1]))
                .hasMessageContaining("not minimally encoded");
    }

    private static String hex(long v) {
        return HexFormat.of().formatHex(Varint.encode(v));
    }
}
