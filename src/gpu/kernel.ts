// Shader reflection, uniform packing and the pipeline cache. Binding slots, access modes and uniform
// byte offsets all come from the WGSL, reflected by wgsl_reflect when the shaders are embedded
// (tools/gen-shaders.mjs: REFLECTIONS): nothing here is kept by hand, nothing parses WGSL at run time.
// Caveat: wgsl_reflect ignores shadowing, so a function parameter or local named like a global
// binding counts as a use of that binding. Never reuse a binding's name inside a shader.
import { REFLECTIONS, SHADERS } from './shaders.gen.js';

export type UniformValue = number | ArrayLike<number>;
export type Uniforms = Record<string, UniformValue>;

interface FieldLayout {
  name: string;
  offset: number;
  /** Scalar type written at each slot. */
  scalar: 'f32' | 'u32' | 'i32' | 'f16';
  /** Number of scalars the field holds (vectors, arrays of vectors flattened). */
  count: number;
  /** Byte distance between consecutive scalars' groups (arrays of vec3 pad to 16 etc.). */
  groupSize: number;
  groupStride: number;
}

interface UniformLayout {
  varName: string;
  binding: number;
  size: number;
  fields: Map<string, FieldLayout>;
}

export interface ResourceSlot {
  name: string;
  binding: number;
  kind: 'uniform' | 'read-only-storage' | 'storage';
}

export interface KernelInfo {
  shader: string;
  entry: string;
  /** shader/entry/sorted override constants: one compiled pipeline. */
  key: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  resources: ResourceSlot[];
  uniform: UniformLayout | null;
}

/** A pipeline to create: shader, entry point and override constants. */
export interface KernelRequest {
  shader: string;
  entry: string;
  constants: Record<string, number>;
}

/** A kernel without its pipeline, and how to create the pipeline. */
interface Described {
  info: Omit<KernelInfo, 'pipeline'>;
  descriptor: GPUComputePipelineDescriptor;
}

interface ReflectedShader {
  reflect: ShaderReflection;
  module: GPUShaderModule;
}

/** A WGSL type as reflected: name and size; arrays' element type, count and stride; structs' members. */
export interface ReflectedType {
  name: string;
  size: number;
  format?: ReflectedType;
  count?: number;
  stride?: number;
  members?: Array<{ name: string; offset: number; type: ReflectedType }>;
}

/** What a shader's pipelines need of its WGSL, reflected when it is embedded (tools/gen-shaders.mjs). */
export interface ShaderReflection {
  /** Compute entry points: their bindings (a uniform's with its struct type). */
  entries: Record<string, {
    resources: Array<{ name: string; group: number; binding: number; kind: ResourceSlot['kind']; type?: ReflectedType }>;
  }>;
  /** Module-scope numeric constants. */
  consts: Record<string, number>;
}

function scalarOf(t: ReflectedType): FieldLayout['scalar'] {
  const n = t.name;
  if (n === 'f32' || n === 'u32' || n === 'i32' || n === 'f16') return n;
  if (t.format) return scalarOf(t.format);
  throw new Error(`uniform field of type ${n} is not supported`);
}

function fieldLayout(name: string, offset: number, t: ReflectedType): FieldLayout {
  const scalar = scalarOf(t);
  const scalarBytes = scalar === 'f16' ? 2 : 4;
  const vecLen = (x: ReflectedType) => (/^vec([234])/.exec(x.name) ? Number(/^vec([234])/.exec(x.name)![1]) : 1);
  if (t.name === 'array') {
    const el = t.format!;
    const per = vecLen(el);
    const stride = t.stride ?? Math.max(16, el.size);
    return { name, offset, scalar, count: per * (t.count ?? 0), groupSize: per, groupStride: stride };
  }
  const per = vecLen(t);
  return { name, offset, scalar, count: per, groupSize: per, groupStride: per * scalarBytes };
}

/** The reflection of shaders/NAME.wgsl (needs no device). */
function reflectShader(name: string): ShaderReflection {
  if (!Object.hasOwn(REFLECTIONS, name)) throw new Error(`unknown shader "${name}" (no shaders/${name}.wgsl)`);
  return REFLECTIONS[name];
}

/**
 * The value of a module-scope `const` (or an override's default) of a shader: the limits its
 * register arrays impose (depthwise MAX_SPAN, conv2d SEGMAX…), read from the WGSL as the uniform
 * layouts are, so a launcher never restates them.
 */
export function shaderConstant(shader: string, name: string): number {
  const consts = reflectShader(shader).consts;
  const v = Object.hasOwn(consts, name) ? consts[name] : undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`shaders/${shader}.wgsl has no numeric const "${name}"`);
  return v;
}

export class KernelCache {
  private readonly shaders = new Map<string, ReflectedShader>();
  private readonly kernels = new Map<string, KernelInfo>();
  /** Reflection and layouts by key, pipeline or not (dry runs need no pipeline). */
  private readonly described = new Map<string, Described>();

  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.kernels.size;
  }

  private shader(name: string): ReflectedShader {
    let s = this.shaders.get(name);
    if (!s) {
      s = { reflect: reflectShader(name), module: this.device.createShaderModule({ code: SHADERS[name], label: name }) };
      this.shaders.set(name, s);
    }
    return s;
  }

  get(shader: string, entry = 'main', constants: Record<string, number> = {}): KernelInfo {
    const key = kernelKey(shader, entry, constants);
    const cached = this.kernels.get(key);
    if (cached) return cached;
    const d = this.describe(key, shader, entry, constants);
    const k: KernelInfo = { ...d.info, pipeline: this.device.createComputePipeline(d.descriptor) };
    this.kernels.set(key, k);
    return k;
  }

  /** Whether the pipeline for these constants exists already. */
  has(shader: string, entry = 'main', constants: Record<string, number> = {}): boolean {
    return this.kernels.has(kernelKey(shader, entry, constants));
  }

  /**
   * Everything of a kernel but its pipeline (reflection, bind group layout): what a dry run needs
   * to validate a dispatch. The pipeline is made by get() or prepare().
   */
  layoutOnly(shader: string, entry = 'main', constants: Record<string, number> = {}): KernelInfo {
    const key = kernelKey(shader, entry, constants);
    return this.kernels.get(key) ?? { ...this.describe(key, shader, entry, constants).info, pipeline: null as unknown as GPUComputePipeline };
  }

  /**
   * Creates the pipelines of `requests` that do not exist yet, all at once with
   * createComputePipelineAsync, so a driver that compiles at creation (NVIDIA, AMD, Chrome's
   * GPU process) compiles them in parallel instead of one by one at their first dispatches.
   * Resolves to the number created; a pipeline that fails is an error naming it.
   */
  async prepare(requests: Iterable<KernelRequest>): Promise<number> {
    const todo = new Map<string, KernelRequest>();
    for (const r of requests) {
      const key = kernelKey(r.shader, r.entry, r.constants);
      if (!this.kernels.has(key)) todo.set(key, r);
    }
    await Promise.all(
      [...todo].map(async ([key, r]) => {
        const d = this.describe(key, r.shader, r.entry, r.constants);
        let pipeline: GPUComputePipeline;
        try {
          pipeline = await this.device.createComputePipelineAsync(d.descriptor);
        } catch (e) {
          throw new Error(`pipeline ${key}: ${e instanceof Error ? e.message : String(e)}`);
        }
        if (!this.kernels.has(key)) this.kernels.set(key, { ...d.info, pipeline });
      }),
    );
    return todo.size;
  }

  private describe(key: string, shader: string, entry: string, constants: Record<string, number>): Described {
    let d = this.described.get(key);
    if (!d) this.described.set(key, (d = this.reflectKernel(key, shader, entry, constants)));
    return d;
  }

  private reflectKernel(key: string, shader: string, entry: string, constants: Record<string, number>): Described {
    const { reflect, module } = this.shader(shader);
    const ep = Object.hasOwn(reflect.entries, entry) ? reflect.entries[entry] : undefined;
    if (!ep) throw new Error(`shader "${shader}" has no compute entry point "${entry}"`);
    const resources: ResourceSlot[] = [];
    let uniform: UniformLayout | null = null;
    for (const r of ep.resources) {
      if (r.group !== 0) throw new Error(`${shader}.${entry}: only @group(0) is supported (got ${r.group} for ${r.name})`);
      resources.push({ name: r.name, binding: r.binding, kind: r.kind });
      if (r.kind === 'uniform') {
        const t = r.type!;
        const fields = new Map<string, FieldLayout>();
        for (const m of t.members ?? []) fields.set(m.name, fieldLayout(m.name, m.offset, m.type));
        uniform = { varName: r.name, binding: r.binding, size: t.size, fields };
      }
    }
    resources.sort((a, b) => a.binding - b.binding);
    const layout = this.device.createBindGroupLayout({
      label: `${shader}.${entry}`,
      entries: resources.map((r) => ({
        binding: r.binding,
        visibility: 4 /* GPUShaderStage.COMPUTE */,
        // The uniform's offset is given at setBindGroup, so one bind group serves every dispatch
        // with the same buffers (Runtime.dispatch caches them).
        buffer: { type: r.kind, hasDynamicOffset: r.kind === 'uniform' },
      })),
    });
    const descriptor: GPUComputePipelineDescriptor = {
      label: key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: entry, constants },
    };
    return { info: { shader, entry, key, layout, resources, uniform }, descriptor };
  }
}

/** shader/entry/sorted override constants: the cache key of one pipeline. */
export function kernelKey(shader: string, entry: string, constants: Record<string, number>): string {
  const ckeys = Object.keys(constants).sort();
  return `${shader}/${entry}/${ckeys.map((k) => `${k}=${constants[k]}`).join(',')}`;
}

/** Packs named values into the kernel's uniform struct using the reflected member offsets. */
export function packUniforms(kernel: KernelInfo, values: Uniforms, into: DataView, at: number): void {
  const u = kernel.uniform;
  if (!u) return;
  for (const [name, value] of Object.entries(values)) {
    const f = u.fields.get(name);
    if (!f) throw new Error(`${kernel.shader}.${kernel.entry}: uniform struct has no field "${name}"`);
    const arr: ArrayLike<number> = typeof value === 'number' ? [value] : value;
    if (arr.length > f.count) {
      throw new Error(`${kernel.shader}.${kernel.entry}: uniform "${name}" takes ${f.count} values, got ${arr.length}`);
    }
    for (let i = 0; i < arr.length; i++) {
      const g = Math.floor(i / f.groupSize);
      const off = at + f.offset + g * f.groupStride + (i % f.groupSize) * (f.scalar === 'f16' ? 2 : 4);
      const v = arr[i];
      if (f.scalar === 'f32') into.setFloat32(off, v, true);
      else if (f.scalar === 'u32') into.setUint32(off, v >>> 0, true);
      else if (f.scalar === 'i32') into.setInt32(off, v | 0, true);
      else throw new Error(`${kernel.shader}: f16 uniforms are not supported yet`);
    }
  }
}
