package ai.parallax.p2p.multistream;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MultistreamSelectTest {
    private final List<ByteBuf> sentByInitiator = new ArrayList<>();
    private final List<ByteBuf> sentByResponder = new ArrayList<>();

    @Test
    void wireFormatIsVarintLengthAndNewline() {
        ByteBuf b = Unpooled.buffer();
        MultistreamNegotiator.writeMessage(b, "/multistream/1.0.0");
        // 0x13 = 19 bytes: the 18-character id and '\n' (as in the libp2p connections spec example)
        assertThat(HexFormat.of().formatHex(io.netty.buffer.ByteBufUtil.getBytes(b)))
                .isEqualTo("13" + HexFormat.of().formatHex("/multistream/1.0.0\n".getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void initiatorFallsBackAfterNa() throws Exception {
        MultistreamNegotiator i = MultistreamNegotiator.initiator(List.of("/yamux/2.0.0", "/yamux/1.0.0"),
                ByteBufAllocator.DEFAULT, sentByInitiator::add);
        MultistreamNegotiator r = MultistreamNegotiator.responder("/yamux/1.0.0"::equals, ByteBufAllocator.DEFAULT,
                sentByResponder::add);
        i.start();
        r.start();
        String chosenByResponder = null;
        String chosenByInitiator = null;
        for (int round = 0; round < 4 && chosenByInitiator == null; round++) {
            ByteBuf toR = drain(sentByInitiator);
            if (chosenByResponder == null) {
                chosenByResponder = r.feed(toR);
            }
            chosenByInitiator = i.feed(drain(sentByResponder));
        }
        assertThat(chosenByResponder).isEqualTo("/yamux/1.0.0");
        assertThat(chosenByInitiator).isEqualTo("/yamux/1.0.0");
    }

    @Test
    void bytesAfterTheAgreementAreLeftForTheProtocol() throws Exception {
        MultistreamNegotiator r = MultistreamNegotiator.responder("/noise"::equals, ByteBufAllocator.DEFAULT, sentByResponder::add);
        ByteBuf in = Unpooled.buffer();
        MultistreamNegotiator.writeMessage(in, "/multistream/1.0.0");
        MultistreamNegotiator.writeMessage(in, "/noise");
        in.writeBytes(new byte[] {0, 32, 1, 2, 3});
        assertThat(r.feed(in)).isEqualTo("/noise");
        assertThat(in.readableBytes()).isEqualTo(5);
    }

    @Test
    void oversizedAndMalformedMessagesAreRefused() {
        MultistreamNegotiator r = MultistreamNegotiator.responder(p -> true, ByteBufAllocator.DEFAULT, sentByResponder::add);
        assertThatThrownBy(() -> r.feed(Unpooled.wrappedBuffer(HexFormat.of().parseHex("808040"))))
                .hasMessageContaining("outside 1..1024");
        MultistreamNegotiator r2 = MultistreamNegotiator.responder(p -> true, ByteBufAllocator.DEFAULT, sentByResponder::add);
        assertThatThrownBy(() -> r2.feed(Unpooled.wrappedBuffer(new byte[] {3, 'a', 'b', 'c'})))
                .hasMessageContaining("does not end with a newline");
        MultistreamNegotiator r3 = MultistreamNegotiator.responder(p -> true, ByteBufAllocator.DEFAULT, sentByResponder::add);
        ByteBuf wrongHeader = Unpooled.buffer();
        MultistreamNegotiator.writeMessage(wrongHeader, "/multistream/2.0.0");
        assertThatThrownBy(() -> r3.feed(wrongHeader)).hasMessageContaining("expected the /multistream/1.0.0 header");
    }

    private static ByteBuf drain(List<ByteBuf> sent) {
        ByteBuf all = Unpooled.buffer();
        for (ByteBuf b : sent) {
            all.writeBytes(b);
            b.release();
        }
        sent.clear();
        return all;
    }
}
