package ai.parallax.p2p.noise;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;

/**
 * The Noise XX handshake, {@code Noise_XX_25519_ChaChaPoly_SHA256} (Noise spec sections 5 and 7.5), as a pure state
 * machine over byte arrays: no sockets and no framing. The three messages are
 * <pre>
 *   -> e
 *   <- e, ee, s, es
 *   -> s, se
 * </pre>
 * each followed by an (encrypted, once a key exists) payload. After the third message {@link #split} gives the two
 * transport CipherStates.
 */
public final class NoiseXXHandshake {
    static final byte[] PROTOCOL_NAME = "Noise_XX_25519_ChaChaPoly_SHA256".getBytes(StandardCharsets.US_ASCII);
    private static final int DH_LENGTH = 32;

    private final boolean initiator;
    private final X25519.Pair s;
    private X25519.Pair e;
    private byte[] rs;
    private byte[] re;
    // SymmetricState
    private byte[] ck;
    private byte[] h;
    private CipherState k;
    private int step;

    public NoiseXXHandshake(boolean initiator) {
        this(initiator, X25519.generate());
    }

    NoiseXXHandshake(boolean initiator, X25519.Pair staticKey) {
        this.initiator = initiator;
        this.s = staticKey;
        // The name is exactly 32 bytes (HASHLEN), so h is the name itself, unhashed (Noise spec 5.2).
        this.h = PROTOCOL_NAME.clone();
        this.ck = h.clone();
        mixHash(new byte[0]); // empty prologue
    }

    /** Our static X25519 public key, the one the libp2p payload signs. */
    public byte[] localStaticKey() {
        return s.publicKey().clone();
    }

    /** The remote static key, known after message 2 (initiator) or 3 (responder). */
    public byte[] remoteStaticKey() {
        return rs == null ? null : rs.clone();
    }

    public boolean isInitiator() {
        return initiator;
    }

    /** True once all three messages have been written or read. */
    public boolean isComplete() {
        return step == 3;
    }

    /** True if the next message is ours to write. */
    public boolean isOurTurn() {
        return !isComplete() && (step % 2 == 0) == initiator;
    }

    public byte[] writeMessage(byte[] payload) throws NoiseException {
        if (!isOurTurn()) {
            throw new NoiseException("handshake message " + (step + 1) + " is not ours to write");
        }
        byte[] out;
        switch (step) {
            case 0 -> { // -> e
                e = X25519.generate();
                mixHash(e.publicKey());
                out = concat(e.publicKey(), encryptAndHash(payload));
            }
            case 1 -> { // <- e, ee, s, es
                e = X25519.generate();
                mixHash(e.publicKey());
                mixKey(X25519.dh(e.privateKey(), re));
                byte[] encS = encryptAndHash(s.publicKey());
                mixKey(X25519.dh(s.privateKey(), re));
                out = concat(e.publicKey(), encS, encryptAndHash(payload));
            }
            default -> { // -> s, se
                byte[] encS = encryptAndHash(s.publicKey());
                mixKey(X25519.dh(s.privateKey(), re));
                out = concat(encS, encryptAndHash(payload));
            }
        }
        step++;
        return out;
    }

    /** Processes the remote's next message and returns its decrypted payload. */
    public byte[] readMessage(byte[] message) throws NoiseException {
        if (isOurTurn() || isComplete()) {
            throw new NoiseException("unexpected handshake message " + (step + 1));
        }
        byte[] payload;
        switch (step) {
            case 0 -> { // -> e
                require(message, DH_LENGTH, 1);
                re = Arrays.copyOf(message, DH_LENGTH);
                mixHash(re);
                payload = decryptAndHash(Arrays.copyOfRange(message, DH_LENGTH, message.length));
            }
            case 1 -> { // <- e, ee, s, es
                require(message, DH_LENGTH + DH_LENGTH + CipherState.TAG_LENGTH, 2);
                re = Arrays.copyOf(message, DH_LENGTH);
                mixHash(re);
                mixKey(X25519.dh(e.privateKey(), re));
                rs = decryptAndHash(Arrays.copyOfRange(message, DH_LENGTH, 2 * DH_LENGTH + CipherState.TAG_LENGTH));
                mixKey(X25519.dh(e.privateKey(), rs));
                payload = decryptAndHash(Arrays.copyOfRange(message, 2 * DH_LENGTH + CipherState.TAG_LENGTH,
                        message.length));
            }
            default -> { // -> s, se
                require(message, DH_LENGTH + CipherState.TAG_LENGTH, 3);
                rs = decryptAndHash(Arrays.copyOf(message, DH_LENGTH + CipherState.TAG_LENGTH));
                mixKey(X25519.dh(e.privateKey(), rs));
                payload = decryptAndHash(Arrays.copyOfRange(message, DH_LENGTH + CipherState.TAG_LENGTH,
                        message.length));
            }
        }
        step++;
        return payload;
    }

    /** The transport keys (Noise spec 5.2 Split): the initiator sends with the first, the responder with the second. */
    public TransportKeys split() {
        if (!isComplete()) {
            throw new IllegalStateException("the handshake is not complete");
        }
        byte[][] keys = hkdf(ck, new byte[0]);
        CipherState first = new CipherState(keys[0]);
        CipherState second = new CipherState(keys[1]);
        return initiator ? new TransportKeys(first, second) : new TransportKeys(second, first);
    }

    /** The handshake hash, identical on both sides after a successful handshake (for channel binding and tests). */
    public byte[] handshakeHash() {
        return h.clone();
    }

    public record TransportKeys(CipherState send, CipherState receive) {
    }

    private void mixHash(byte[] data) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(h);
            sha.update(data);
            h = sha.digest();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private void mixKey(byte[] ikm) {
        byte[][] out = hkdf(ck, ikm);
        ck = out[0];
        k = new CipherState(out[1]);
    }

    private byte[] encryptAndHash(byte[] plaintext) throws NoiseException {
        byte[] c = k == null ? plaintext : k.encrypt(h, plaintext);
        mixHash(c);
        return c;
    }

    private byte[] decryptAndHash(byte[] ciphertext) throws NoiseException {
        byte[] p = k == null ? ciphertext : k.decrypt(h, ciphertext);
        mixHash(ciphertext);
        return p;
    }

    /** Noise's HKDF with two outputs (spec 4.3): HMAC-SHA256 extract with ck as the salt, then two expand blocks. */
    private static byte[][] hkdf(byte[] chainingKey, byte[] ikm) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(chainingKey, "HmacSHA256"));
            byte[] temp = mac.doFinal(ikm);
            mac.init(new SecretKeySpec(temp, "HmacSHA256"));
            byte[] out1 = mac.doFinal(new byte[] {1});
            mac.update(out1);
            byte[] out2 = mac.doFinal(new byte[] {2});
            return new byte[][] {out1, out2};
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void require(byte[] message, int min, int number) throws NoiseException {
        if (message.length < min) {
            throw new NoiseException("handshake message " + number + " has " + message.length + " bytes; at least "
                    + min + " are needed");
        }
    }

    private static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        byte[] out = new byte[n];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
