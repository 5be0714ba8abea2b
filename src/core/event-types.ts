// RTI event types (rti-api.md §3).

export const EVENT_TYPES: ReadonlySet<string> = new Set([
  'page_load',
  'add_payment',
  'add_to_cart',
  'add_to_wishlist',
  'registration',
  'purchase',
  'search',
  'start_trail',
  'subscribe',
  'form_submission',
  'custom',
  'token_validation',
]);
