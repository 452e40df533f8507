/** `scheme://user:pass@` in any text: the part a message must never repeat. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"']*@/gi;

/** The text with the credentials of every URL in it replaced by `***`: fit for a message or a log. */
export function withoutCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, "$1***@");
}

/** Whether a URL carries a user name or password (which aq never sends: tokens go in a header). */
export function hasCredentials(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.username !== "" || parsed.password !== "";
  } catch {
    return new RegExp(URL_CREDENTIALS.source, "i").test(url);
  }
}
