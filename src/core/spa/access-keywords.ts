/**
 * Every access.conf keyword of the fwknopd 2.6.10 man page, with what
 * knockd-ts does with it: supported, or refused with the reason and what to
 * use instead. The README's table is this one.
 */

/** Support status of every access.conf keyword in the fwknopd 2.6.10 man page. */
export const KEYWORDS: Readonly<Record<string, string>> = {
  SOURCE: 'supported (IPv4 and IPv6 addresses and CIDRs, ANY)',
  DESTINATION: 'supported (IPv4 and IPv6 addresses and CIDRs, ANY)',
  OPEN_PORTS: 'supported',
  RESTRICT_PORTS: 'supported',
  KEY: 'supported',
  KEY_BASE64: 'supported',
  HMAC_KEY: 'supported',
  HMAC_KEY_BASE64: 'supported',
  HMAC_DIGEST_TYPE: 'supported',
  FW_ACCESS_TIMEOUT: 'supported',
  MAX_FW_TIMEOUT: 'supported',
  ENCRYPTION_MODE: 'supported (cbc, ecb, cfb, ofb, ctr, legacy)',
  ACCESS_EXPIRE: 'supported',
  ACCESS_EXPIRE_EPOCH: 'supported',
  REQUIRE_USERNAME: 'supported',
  REQUIRE_SOURCE_ADDRESS: 'supported',
  REQUIRE_SOURCE: 'supported (synonym of REQUIRE_SOURCE_ADDRESS)',
  CMD_CYCLE_OPEN: 'supported (argv, no shell unless the line starts with a shell and -c)',
  CMD_CYCLE_CLOSE: 'supported (NONE: no close)',
  CMD_CYCLE_TIMER: 'supported',
  ENABLE_CMD_EXEC:
    'N accepted; Y refused: command messages (fwknop -C) would run client-chosen text as root; use CMD_CYCLE_OPEN with a fixed command',
  ENABLE_CMD_SUDO_EXEC:
    'N accepted; Y refused (as ENABLE_CMD_EXEC); use CMD_CYCLE_OPEN with a fixed sudo command',
  CMD_EXEC_USER: 'accepted and ignored with a warning (command messages are never run)',
  CMD_EXEC_GROUP: 'accepted and ignored with a warning (command messages are never run)',
  CMD_SUDO_EXEC_USER: 'accepted and ignored with a warning (command messages are never run)',
  CMD_SUDO_EXEC_GROUP: 'accepted and ignored with a warning (command messages are never run)',
  SUDO_EXE: 'accepted and ignored with a warning (command messages are never run)',
  FORCE_NAT:
    'refused: grants open INPUT only, there is no NAT backend; use CMD_CYCLE_OPEN/CLOSE with your own nft DNAT rule',
  FORCE_SNAT: 'refused (as FORCE_NAT); use CMD_CYCLE_OPEN/CLOSE with your own nft SNAT rule',
  FORCE_MASQUERADE:
    'N accepted; Y refused (as FORCE_NAT); use CMD_CYCLE_OPEN/CLOSE with your own nft masquerade rule',
  FORWARD_ALL: 'N accepted; Y refused (as FORCE_NAT)',
  DISABLE_DNAT: 'accepted (there is no DNAT to disable)',
  GPG_DECRYPT_ID:
    'accepted; informational, as in fwknopd (gpg uses the secret key the packet is encrypted to)',
  GPG_DECRYPT_PW:
    'supported: the passphrase of the server key, given to gpg on a pipe (--passphrase-fd), never in argv',
  GPG_ALLOW_NO_PW: 'supported: the server key has no passphrase',
  GPG_REQUIRE_SIG: 'supported (default Y: a GPG packet must carry a valid signature)',
  GPG_DISABLE_SIG: 'supported (Y with GPG_REQUIRE_SIG unset: unsigned packets are accepted)',
  GPG_IGNORE_SIG_VERIFY_ERROR:
    'supported: Y forgives an untrusted, expired or revoked signer key, never a signature that does not verify',
  GPG_REMOTE_ID: 'supported: short (8), long (16) key IDs or fingerprints, comma-separated',
  GPG_FINGERPRINT_ID: 'supported: 40-digit (or 64-digit) fingerprints, comma-separated',
  GPG_HOME_DIR: 'supported (absolute path; default /root/.gnupg, as fwknopd)',
  GPG_EXE: 'supported (absolute path; default /usr/bin/gpg)',
  '%include':
    'refused: the parser reads one file; concatenate the included files into the file SPA_Access names',
  '%include_folder': 'refused (as %include)',
  ALLOW_NO_HMAC: 'knockd-ts only: Y lets a stanza without an HMAC key load',
};

/** Why a switch is refused when set to Y, and what to use instead. */
export const REFUSED_YES: Readonly<Record<string, string>> = {
  ENABLE_CMD_EXEC:
    'a command message (fwknop -C) runs text the client chose, as root by default; use CMD_CYCLE_OPEN with a fixed command',
  ENABLE_CMD_SUDO_EXEC:
    'a command message (fwknop -C) runs text the client chose through sudo; use CMD_CYCLE_OPEN with a fixed sudo command',
  FORCE_MASQUERADE:
    'grants open INPUT only, there is no NAT backend; use CMD_CYCLE_OPEN/CLOSE with your own nft masquerade rule',
  FORWARD_ALL:
    'grants open INPUT only, there is no FORWARD backend; use CMD_CYCLE_OPEN/CLOSE with your own nft forward rule',
};
