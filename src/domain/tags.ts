/**
 * Azure tags as the app keeps them: a null-prototype object of the string-valued tags, so that any tag
 * name is an ordinary key. With a plain `{}`, `tags['__proto__'] = v` sets nothing (the tag is dropped)
 * and `tags['constructor']` reads `Object` for a VM without such a tag.
 */
export type Tags = Record<string, string>;

/** The string-valued own entries of `source` (e.g. parsed JSON), in a null-prototype object. */
export function tagsOf(source: Readonly<Record<string, unknown>>): Tags {
  const tags = Object.create(null) as Tags;
  for (const [name, value] of Object.entries(source))
    if (typeof value === 'string')
      Object.defineProperty(tags, name, { value, enumerable: true, writable: true, configurable: true });
  return tags;
}
