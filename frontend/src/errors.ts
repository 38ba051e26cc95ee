// errorText is what the app shows for a failed call: the error's message
// (the API's own words for an ApiError), or the value itself.
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
