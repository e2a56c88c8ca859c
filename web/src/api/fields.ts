/**
 * Reading the API's JSON answers field by field: each parser (parseAlerts.ts, parseRules.ts) says what
 * it expects of every field, and an answer that is otherwise fails with the field's place and what it held.
 */

function notUnderstood(what: string): Error {
  return new Error(`the API answered something this page does not understand: ${what}`);
}

/** Reads the fields of one JSON object, throwing an error that names the field and what it held instead. */
export class Fields {
  private readonly fields: Record<string, unknown>;

  constructor(
    object: unknown,
    /** Where the object is in the answer, e.g. 'alerts[3]'; '' for the answer itself. */
    private readonly at: string,
  ) {
    if (typeof object !== 'object' || object === null || Array.isArray(object)) {
      throw notUnderstood(`${at || 'the answer'} is not an object`);
    }
    this.fields = object as Record<string, unknown>;
  }

  value<T>(name: string, expected: string, is: (value: unknown) => value is T): T {
    const value = this.fields[name];
    if (is(value)) return value;
    const shown = value === undefined ? 'missing' : JSON.stringify(value);
    throw notUnderstood(`${this.place(name)} is ${shown}, not ${expected}`);
  }

  /** Where field `name` is in the answer: 'rules[3].model'. */
  private place(name: string): string {
    return this.at ? `${this.at}.${name}` : name;
  }

  string(name: string): string {
    return this.value(name, 'a string', (v) => typeof v === 'string');
  }

  /** A whole number: a count, a position in a stream. */
  integer(name: string): number {
    return this.value(name, 'a whole number', (v): v is number => Number.isSafeInteger(v));
  }

  number(name: string): number {
    return this.value(name, 'a number', (v): v is number => typeof v === 'number' && Number.isFinite(v));
  }

  boolean(name: string): boolean {
    return this.value(name, 'true or false', (v) => typeof v === 'boolean');
  }

  /** An RFC 3339 time: the page sorts and formats it, so it must parse. */
  time(name: string): string {
    return this.value(name, 'a time', (v): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v)));
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T {
    return this.value(name, `one of ${values.join(', ')}`, (v): v is T => values.includes(v as T));
  }

  /** Each object of the list `name`, read by `read` with its place in the answer ('rules[3]'). */
  list<T>(name: string, read: (fields: Fields) => T): T[] {
    const list = this.value(name, 'an array', Array.isArray);
    return list.map((item, i) => read(new Fields(item, `${this.place(name)}[${i}]`)));
  }

  /** The object `name`, read by `read`. */
  object<T>(name: string, read: (fields: Fields) => T): T {
    return read(new Fields(this.fields[name], this.place(name)));
  }

  /** Undefined when left out (the contract leaves out what is not set) or null, else what `read` reads. */
  optional<T>(name: string, read: (name: string) => T): T | undefined {
    return this.fields[name] === null || this.fields[name] === undefined ? undefined : read(name);
  }

  /** Null when null or left out (a server may leave out what it has not got), else what `read` reads. */
  nullable<T>(name: string, read: (name: string) => T): T | null {
    return this.fields[name] === null || this.fields[name] === undefined ? null : read(name);
  }
}
