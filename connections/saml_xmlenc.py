"""XML Encryption as we accept it for SAML assertions: the algorithms, and (with the SP's keys)
the in-process decryption of an ``EncryptedAssertion``.

Key transport is RSA-OAEP only (``xmlenc#rsa-oaep-mgf1p``, and ``xmlenc11#rsa-oaep`` with MGF1
over SHA-1 or SHA-256); RSA PKCS#1 v1.5 (``xmlenc#rsa-1_5``) is refused by name: its padding
oracle (Bleichenbacher) lets an attacker decrypt. Content encryption is AES-GCM or AES-CBC,
128 or 256 bits.
"""

from __future__ import annotations

AES128_GCM = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
AES256_GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
AES128_CBC = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
AES256_CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
RSA_OAEP_MGF1P = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
RSA_OAEP = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
RSA_1_5 = "http://www.w3.org/2001/04/xmlenc#rsa-1_5"

CONTENT_ALGORITHMS = (AES256_GCM, AES128_GCM, AES256_CBC, AES128_CBC)
KEY_TRANSPORT_ALGORITHMS = (RSA_OAEP, RSA_OAEP_MGF1P)
#: What the SP metadata lists under the encryption certificate, preferred first.
ACCEPTED_METADATA_ALGORITHMS = (*CONTENT_ALGORITHMS, *KEY_TRANSPORT_ALGORITHMS)
