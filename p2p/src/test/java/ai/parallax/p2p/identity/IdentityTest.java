package ai.parallax.p2p.identity;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HexFormat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class IdentityTest {
    /** The Ed25519 test vector of the libp2p peer-ids spec. */
    private static final String PRIVATE_PROTOBUF = "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d"
            + "1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
    private static final String PUBLIC_PROTOBUF = "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
    /** Peer id and CID of that key as js-libp2p's @libp2p/peer-id prints them. */
    private static final String PEER_ID = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
    private static final String PEER_CID = "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6";

    @Test
    void specTestVectorGivesTheKnownPeerId() {
        IdentityKeyPair pair = IdentityKeyPair.fromProtobuf(HexFormat.of().parseHex(PRIVATE_PROTOBUF));
        assertThat(HexFormat.of().formatHex(pair.publicKey().toProtobuf())).isEqualTo(PUBLIC_PROTOBUF);
        assertThat(HexFormat.of().formatHex(pair.toProtobuf())).isEqualTo(PRIVATE_PROTOBUF);
        assertThat(pair.peerId().toString()).isEqualTo(PEER_ID);
        assertThat(pair.peerId().toCidString()).isEqualTo(PEER_CID);
    }

    @Test
    void peerIdsParseFromBase58AndCid() {
        PeerId a = PeerId.parse(PEER_ID);
        PeerId b = PeerId.parse(PEER_CID);
        assertThat(a).isEqualTo(b);
        assertThat(a.matches(PublicIdentityKey.fromProtobuf(HexFormat.of().parseHex(PUBLIC_PROTOBUF)))).isTrue();
        assertThat(PeerId.fromBytes(a.toBytes())).isEqualTo(a);
    }

    @Test
    void badPeerIdsAreRefused() {
        assertThatThrownBy(() -> PeerId.parse("12D3KooW0")).hasMessageContaining("not a base58btc character");
        assertThatThrownBy(() -> PeerId.parse("xyz")).hasMessageContaining("neither base58btc nor a CID");
        // a CIDv1 with the raw codec (0x55) instead of libp2p-key
        assertThatThrownBy(() -> PeerId.parse("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"))
                .hasMessageContaining("libp2p-key");
    }

    @Test
    void signaturesVerifyOnlyForTheSignedMessage() {
        IdentityKeyPair pair = IdentityKeyPair.generate();
        byte[] msg = "hello".getBytes(StandardCharsets.UTF_8);
        byte[] sig = pair.sign(msg);
        assertThat(pair.publicKey().verify(msg, sig)).isTrue();
        assertThat(pair.publicKey().verify("hellO".getBytes(StandardCharsets.UTF_8), sig)).isFalse();
        assertThat(IdentityKeyPair.generate().publicKey().verify(msg, sig)).isFalse();
    }

    @Test
    void identityFileIsCreatedOwnerOnlyAndReloaded(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("sub/identity.key");
        IdentityKeyPair first = IdentityFile.loadOrCreate(file);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        IdentityKeyPair second = IdentityFile.loadOrCreate(file);
        assertThat(second.peerId()).isEqualTo(first.peerId());
    }

    @Test
    void corruptIdentityFileIsAnErrorNotANewIdentity(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("identity.key");
        Files.write(file, new byte[] {8, 1, 18, 3, 1, 2, 3});
        assertThatThrownBy(() -> IdentityFile.loadOrCreate(file)).isInstanceOf(IOException.class)
                .hasMessageContaining(file.toString()).hasMessageContaining("64 (seed||public) or 96 bytes");
    }
}
