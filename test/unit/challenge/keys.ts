// Test keys for the challenge modules.
import { createSigningKeys } from '../../../src/challenge/signing-keys';

export const SECRET_A = 'a'.repeat(16) + '-current-secret-01';
export const SECRET_B = 'b'.repeat(16) + '-previous-secret-1';
export const SECRET_C = 'c'.repeat(16) + '-unrelated-secret1';

export const KEYS = createSigningKeys(SECRET_A);
/** After a rotation: B is current, A still verifies. */
export const ROTATED = createSigningKeys(SECRET_B, SECRET_A);
export const OTHER = createSigningKeys(SECRET_C);
