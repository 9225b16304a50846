import { describe, expect, it } from 'vitest';
import { Redactor, ibanValid, luhn } from './redact.js';
import { PLANTED, PLANTED_TEXT } from './testing/planted.js';

describe('Redactor', () => {
  it('replaces every planted secret and datum, and restores them in the reply', () => {
    const r = new Redactor();
    const redacted = r.redact(PLANTED_TEXT);
    for (const [name, value] of Object.entries(PLANTED)) {
      expect(redacted, name).not.toContain(value);
    }
    // Nothing that looks like a key or a number of note is left.
    expect(redacted).not.toMatch(/hunter2|sk-proj|ghp_|AKIA|eyJ|BEGIN RSA|4111|0958|DE89/);
    expect(r.found).toEqual({
      PRIVATE_KEY: 1,
      URL_CREDENTIALS: 1,
      JWT: 1,
      API_KEY: 3,
      EMAIL: 1,
      IBAN: 1,
      CARD: 1,
      IP: 2,
      PHONE: 1,
    });
    expect(r.restore(redacted)).toBe(PLANTED_TEXT);
    // A reply that repeats some placeholders gets the values back.
    const reply = 'I will email [EMAIL_1] and charge [CARD_1]; [UNKNOWN_3] stays.';
    expect(r.restore(reply)).toBe(
      `I will email ${PLANTED.email} and charge ${PLANTED.card}; [UNKNOWN_3] stays.`,
    );
  });

  it('gives one value one placeholder across messages', () => {
    const r = new Redactor();
    const a = r.redact(`write to ${PLANTED.email}`);
    const b = r.redact(`again: ${PLANTED.email} and bob@example.com`);
    expect(a).toBe('write to [EMAIL_1]');
    expect(b).toBe('again: [EMAIL_1] and [EMAIL_2]');
  });

  it('leaves ordinary text alone: dates, times, versions, prices, failed checksums', () => {
    const r = new Redactor();
    const plain =
      'On 2026-11-22 at 14:30 we shipped v1.30.0 for $1,299.99; order 4111111111111112 ' +
      '(fails Luhn), ref DE00 1234 5678 9012 3456 78 (fails mod 97), 3 items, page 12 of 300, ' +
      'call me in 5 minutes, the year 1969, ratio 16:9, port 8080.';
    expect(r.redact(plain)).toBe(plain);
    expect(r.found).toEqual({});
  });

  it('restores placeholders split across streamed pieces', () => {
    const r = new Redactor();
    r.redact(`mail ${PLANTED.email} card ${PLANTED.card}`);
    const s = r.restoreStream();
    const pieces = ['Sent to [EM', 'AIL_1', '] and [', 'CARD_1] ok [not a placeholder'];
    const shown = pieces.map((p) => s.push(p)).join('') + s.end();
    expect(shown).toBe(`Sent to ${PLANTED.email} and ${PLANTED.card} ok [not a placeholder`);
  });

  it('checks cards with Luhn and IBANs with mod 97', () => {
    expect(luhn('4111 1111 1111 1111')).toBe(true);
    expect(luhn('4111 1111 1111 1112')).toBe(false);
    expect(luhn('5500-0000-0000-0004')).toBe(true);
    expect(ibanValid('DE89 3704 0044 0532 0130 00')).toBe(true);
    expect(ibanValid('GB82 WEST 1234 5698 7654 32')).toBe(true);
    expect(ibanValid('GB82 WEST 1234 5698 7654 33')).toBe(false);
  });
});
