// Planted secrets and personal data for the redaction tests (unit and against the edge server).
export const PLANTED = {
  email: 'ada.lovelace@example.org',
  phone: '+44 20 7946 0958',
  card: '4111 1111 1111 1111',
  iban: 'DE89 3704 0044 0532 0130 00',
  ipv4: '192.168.10.42',
  ipv6: '2001:db8:85a3::8a2e:370:7334',
  openaiKey: 'sk-proj-Abc123Def456Ghi789Jkl012Mno345',
  githubToken: 'ghp_0123456789abcdefghijABCDEFGHIJ012345',
  awsKey: 'AKIAIOSFODNN7EXAMPLE',
  jwt: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
  privateKey:
    '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7V1n3x\nq9Jk2z0abc=\n-----END RSA PRIVATE KEY-----',
  urlCredentials: 'postgres://admin:hunter2@db.internal:5432/prod',
};

export const PLANTED_TEXT =
  `Hi, I'm Ada (${PLANTED.email}, phone ${PLANTED.phone}). Charge my card ${PLANTED.card} ` +
  `or wire to ${PLANTED.iban}. The server is ${PLANTED.ipv4} / ${PLANTED.ipv6}; ` +
  `keys: ${PLANTED.openaiKey}, ${PLANTED.githubToken}, ${PLANTED.awsKey}. Session ${PLANTED.jwt}. ` +
  `Key:\n${PLANTED.privateKey}\nDB at ${PLANTED.urlCredentials}.`;
