package ai.parallax.p2p.noise;

import javax.crypto.KeyAgreement;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.util.Arrays;

/** X25519 key pairs and Diffie-Hellman with raw 32-byte public keys, as Noise's "25519" DH functions use them. */
final class X25519 {
    /** X.509 SubjectPublicKeyInfo header for an X25519 key (OID 1.3.101.110), followed by the 32 raw bytes. */
    private static final byte[] X509_PREFIX = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00};

    private X25519() {
    }

    record Pair(PrivateKey privateKey, byte[] publicKey) {
    }

    static Pair generate() {
        try {
            KeyPair kp = KeyPairGenerator.getInstance("X25519").generateKeyPair();
            byte[] x509 = kp.getPublic().getEncoded();
            return new Pair(kp.getPrivate(), Arrays.copyOfRange(x509, x509.length - 32, x509.length));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK has no X25519", e);
        }
    }

    static byte[] dh(PrivateKey ours, byte[] theirs) throws NoiseException {
        try {
            byte[] x509 = Arrays.copyOf(X509_PREFIX, X509_PREFIX.length + 32);
            System.arraycopy(theirs, 0, x509, X509_PREFIX.length, 32);
            PublicKey pub = KeyFactory.getInstance("X25519").generatePublic(new X509EncodedKeySpec(x509));
            KeyAgreement ka = KeyAgreement.getInstance("X25519");
            ka.init(ours);
            ka.doPhase(pub, true);
            return ka.generateSecret();
        } catch (GeneralSecurityException e) {
            // The JDK refuses small-order points, whose shared secret would be all zeros.
            throw new NoiseException("X25519 key agreement failed: " + e.getMessage(), e);
        }
    }
}
