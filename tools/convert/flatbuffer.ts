// A minimal, bounds-checked FlatBuffers reader: just enough to walk a TFLite model (tables,
// vectors, strings, scalars) without the TFLite runtime or generated code.

export class FlatBufferError extends Error {}

export class FbTable {
  constructor(
    readonly buf: FlatBuffer,
    readonly pos: number,
  ) {}

  /** Byte offset of field `index` relative to the table, or 0 when absent. */
  private fieldOffset(index: number): number {
    const vtable = this.pos - this.buf.i32(this.pos);
    const vtableLen = this.buf.u16(vtable);
    const slot = 4 + 2 * index;
    return slot < vtableLen ? this.buf.u16(vtable + slot) : 0;
  }

  has(index: number): boolean {
    return this.fieldOffset(index) !== 0;
  }

  u8(index: number, dflt = 0): number {
    const o = this.fieldOffset(index);
    return o ? this.buf.u8(this.pos + o) : dflt;
  }

  i8(index: number, dflt = 0): number {
    const o = this.fieldOffset(index);
    return o ? this.buf.i8(this.pos + o) : dflt;
  }

  i32(index: number, dflt = 0): number {
    const o = this.fieldOffset(index);
    return o ? this.buf.i32(this.pos + o) : dflt;
  }

  u32(index: number, dflt = 0): number {
    const o = this.fieldOffset(index);
    return o ? this.buf.u32(this.pos + o) : dflt;
  }

  f32(index: number, dflt = 0): number {
    const o = this.fieldOffset(index);
    return o ? this.buf.f32(this.pos + o) : dflt;
  }

  private indirect(index: number): number | null {
    const o = this.fieldOffset(index);
    if (!o) return null;
    const at = this.pos + o;
    return at + this.buf.u32(at);
  }

  table(index: number): FbTable | null {
    const p = this.indirect(index);
    return p === null ? null : new FbTable(this.buf, p);
  }

  string(index: number): string | null {
    const p = this.indirect(index);
    if (p === null) return null;
    const len = this.buf.u32(p);
    return new TextDecoder().decode(this.buf.bytes(p + 4, len));
  }

  /** A vector of tables. */
  tables(index: number): FbTable[] {
    const p = this.indirect(index);
    if (p === null) return [];
    const n = this.buf.u32(p);
    const out: FbTable[] = [];
    for (let i = 0; i < n; i++) {
      const at = p + 4 + 4 * i;
      out.push(new FbTable(this.buf, at + this.buf.u32(at)));
    }
    return out;
  }

  /** A vector of scalars of `size` bytes, read with `read`. */
  private scalars(index: number, size: number, read: (at: number) => number): number[] {
    const p = this.indirect(index);
    if (p === null) return [];
    const n = this.buf.u32(p);
    this.buf.check(p + 4, n * size);
    return Array.from({ length: n }, (_, i) => read(p + 4 + size * i));
  }

  i32s(index: number): number[] {
    return this.scalars(index, 4, (a) => this.buf.i32(a));
  }

  i64s(index: number): number[] {
    return this.scalars(index, 8, (a) => Number(this.buf.view.getBigInt64(a, true)));
  }

  f32s(index: number): number[] {
    return this.scalars(index, 4, (a) => this.buf.f32(a));
  }

  /** A vector of bytes, as a view (no copy). */
  bytes(index: number): Uint8Array | null {
    const p = this.indirect(index);
    if (p === null) return null;
    return this.buf.bytes(p + 4, this.buf.u32(p));
  }
}

export class FlatBuffer {
  readonly view: DataView;

  constructor(
    readonly data: Uint8Array,
    readonly source: string,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  check(at: number, len: number): void {
    if (at < 0 || len < 0 || at + len > this.data.byteLength) {
      throw new FlatBufferError(`${this.source}: offset ${at}+${len} is outside the ${this.data.byteLength}-byte file (truncated or not a flatbuffer)`);
    }
  }

  u8(at: number): number { this.check(at, 1); return this.view.getUint8(at); }
  i8(at: number): number { this.check(at, 1); return this.view.getInt8(at); }
  u16(at: number): number { this.check(at, 2); return this.view.getUint16(at, true); }
  i32(at: number): number { this.check(at, 4); return this.view.getInt32(at, true); }
  u32(at: number): number { this.check(at, 4); return this.view.getUint32(at, true); }
  f32(at: number): number { this.check(at, 4); return this.view.getFloat32(at, true); }
  bytes(at: number, len: number): Uint8Array { this.check(at, len); return this.data.subarray(at, at + len); }

  root(): FbTable {
    return new FbTable(this, this.u32(0));
  }

  identifier(): string {
    return new TextDecoder().decode(this.bytes(4, 4));
  }
}
