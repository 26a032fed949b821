package ai.parallax.p2p.noise;

import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;

/**
 * A Noise CipherState with ChaChaPoly (Noise spec sections 5.1 and 12.3): a 32-byte key and a 64-bit counter used
 * as the nonce, encoded as 32 zero bits then the counter little-endian. The JDK's ChaCha20-Poly1305 Cipher refuses to
 * be re-initialised with a key and nonce it has already used, so each message initialises it with the next nonce,
 * which is exactly what Noise requires anyway.
 */
public final class CipherState {
    public static final int TAG_LENGTH = 16;

    private final SecretKeySpec key;
    private final Cipher cipher;
    private final byte[] nonce = new byte[12];
    private long counter;

    public CipherState(byte[] key) {
        if (key.length != 32) {
            throw new IllegalArgumentException("a ChaChaPoly key has 32 bytes, got " + key.length);
        }
        this.key = new SecretKeySpec(key, "ChaCha20");
        try {
            this.cipher = Cipher.getInstance("ChaCha20-Poly1305");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK has no ChaCha20-Poly1305", e);
        }
    }

    public byte[] encrypt(byte[] ad, byte[] plaintext) throws NoiseException {
        init(Cipher.ENCRYPT_MODE, ad);
        try {
            return cipher.doFinal(plaintext);
        } catch (GeneralSecurityException e) {
            throw new NoiseException("encryption failed: " + e.getMessage(), e);
        }
    }

    public byte[] decrypt(byte[] ad, byte[] ciphertext) throws NoiseException {
        init(Cipher.DECRYPT_MODE, ad);
        try {
            return cipher.doFinal(ciphertext);
        } catch (AEADBadTagException e) {
            throw new NoiseException("message authentication failed (wrong key, tampered or reordered message)", e);
        } catch (GeneralSecurityException e) {
            throw new NoiseException("decryption failed: " + e.getMessage(), e);
        }
    }

    /** Encrypts {@code in} into {@code out} (which needs {@code in.remaining() + 16} bytes), with no associated data. */
    public void encrypt(ByteBuffer in, ByteBuffer out) throws NoiseException {
        init(Cipher.ENCRYPT_MODE, null);
        try {
            cipher.doFinal(in, out);
        } catch (GeneralSecurityException e) {
            throw new NoiseException("encryption failed: " + e.getMessage(), e);
        }
    }

    /** Encrypts the concatenation of {@code in} into {@code out}, so a composite buffer needs no copy first. */
    public void encrypt(ByteBuffer[] in, ByteBuffer out) throws NoiseException {
        init(Cipher.ENCRYPT_MODE, null);
        try {
            for (ByteBuffer b : in) {
                cipher.update(b, out);
            }
            cipher.doFinal(ByteBuffer.allocate(0), out);
        } catch (GeneralSecurityException e) {
            throw new NoiseException("encryption failed: " + e.getMessage(), e);
        }
    }

    /**
     * Decrypts {@code length} bytes of ciphertext and tag at {@code offset} in place: the plaintext ends up at the
     * same offset. Heap arrays let the JDK's ChaCha20-Poly1305 work without copying (with direct buffers it copies
     * the input into a fresh array and the result back out); the caller gathers the message into the array.
     *
     * @return the plaintext length, {@code length - 16}
     */
    public int decryptInPlace(byte[] buffer, int offset, int length) throws NoiseException {
        init(Cipher.DECRYPT_MODE, null);
        try {
            return cipher.doFinal(buffer, offset, length, buffer, offset);
        } catch (AEADBadTagException e) {
            throw new NoiseException("message authentication failed (wrong key, tampered or reordered message)", e);
        } catch (GeneralSecurityException e) {
            throw new NoiseException("decryption failed: " + e.getMessage(), e);
        }
    }

    /**
     * Encrypts {@code length} bytes of plaintext at {@code offset} in place, appending the 16-byte tag, so the array
     * needs {@code length + 16} bytes from {@code offset}.
     */
    public void encryptInPlace(byte[] buffer, int offset, int length) throws NoiseException {
        init(Cipher.ENCRYPT_MODE, null);
        try {
            cipher.doFinal(buffer, offset, length, buffer, offset);
        } catch (GeneralSecurityException e) {
            throw new NoiseException("encryption failed: " + e.getMessage(), e);
        }
    }

    /** Decrypts the concatenation of {@code in} (ciphertext then tag) into {@code out}. */
    public void decrypt(ByteBuffer[] in, ByteBuffer out) throws NoiseException {
        init(Cipher.DECRYPT_MODE, null);
        try {
            for (int i = 0; i < in.length - 1; i++) {
                cipher.update(in[i], out);
            }
            cipher.doFinal(in[in.length - 1], out);
        } catch (AEADBadTagException e) {
            throw new NoiseException("message authentication failed (wrong key, tampered or reordered message)", e);
        } catch (GeneralSecurityException e) {
            throw new NoiseException("decryption failed: " + e.getMessage(), e);
        }
    }

    private void init(int mode, byte[] ad) throws NoiseException {
        if (counter == -1L) { // 2^64 - 1 is reserved (Noise spec 5.1)
            throw new NoiseException("nonce space exhausted; the session must be rekeyed or closed");
        }
        long n = counter++;
        for (int i = 0; i < 8; i++) {
            nonce[4 + i] = (byte) (n >>> (8 * i));
        }
        try {
            cipher.init(mode, key, new IvParameterSpec(nonce));
        } catch (GeneralSecurityException e) {
            throw new NoiseException("cipher initialisation failed: " + e.getMessage(), e);
        }
        if (ad != null && ad.length > 0) {
            cipher.updateAAD(ad);
        }
    }
}
