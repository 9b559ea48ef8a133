// The peer: @tensorflow/tfjs-backend-webgpu (a devDependency) constructed on OUR runtime's
// GPUDevice in the same process, so both run the same shapes on the same device and queue. Its
// work is timed by wall clock: run R executions, submit its queue, await onSubmittedWorkDone.
import { createRequire } from 'node:module';
import type * as TF from '@tensorflow/tfjs-core';
import type { Runtime } from '../gpu/runtime.js';
import type { PeerInfo } from './schema.js';

export interface PeerInstance {
  /** Records one execution on the peer. */
  run(): void;
  /** Submits the peer's pending work and waits for the device. */
  sync(): Promise<void>;
  dispose(): void;
}

export type Tf = typeof TF;

export interface Peer {
  tf: Tf;
  /** Submits the backend's pending commands and waits until the device is idle. */
  sync(): Promise<void>;
  dispose(): void;
}

// Kernels are registered for the backend name 'webgpu': ours replaces the module's factory there.
const BACKEND = 'webgpu';
const live: unknown[] = [];

/** Loads tfjs-core + tfjs-backend-webgpu and makes a backend on `rt.device` current. */
export async function createPeer(rt: Runtime, gpu: GPU | null): Promise<{ peer: Peer | null; info: PeerInfo }> {
  const info: PeerInfo = { name: '@tensorflow/tfjs-backend-webgpu', version: null, available: false, clock: 'wall' };
  try {
    const coreName = '@tensorflow/tfjs-core';
    const webgpuName = '@tensorflow/tfjs-backend-webgpu';
    // tfjs checks navigator.gpu before constructing a backend (Node 20 has no navigator).
    const g = globalThis as { navigator?: { gpu?: unknown } };
    if (!g.navigator?.gpu) {
      let instance: unknown = gpu;
      if (!instance) {
        const pkg = 'webgpu';
        instance = ((await import(pkg)) as { create: (f: string[]) => unknown }).create([]);
        live.push(instance);
      }
      if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: instance, configurable: true });
      else Object.defineProperty(globalThis, 'navigator', { value: { gpu: instance }, configurable: true, writable: true });
    }
    const tf = (await import(coreName)) as Tf;
    const mod = (await import(webgpuName)) as { WebGPUBackend: new (d: GPUDevice) => TF.KernelBackend };
    info.version = (createRequire(import.meta.url)(`${webgpuName}/package.json`) as { version: string }).version;
    const backend = new mod.WebGPUBackend(rt.device);
    if (tf.findBackendFactory(BACKEND)) tf.removeBackend(BACKEND);
    tf.registerBackend(BACKEND, () => backend, 3);
    if (!(await tf.setBackend(BACKEND))) throw new Error('tf.setBackend failed');
    const b = backend as unknown as { ensureCommandEncoderReady(): void; endComputePassEncoder(): void; submitQueue(): void };
    info.available = true;
    return {
      info,
      peer: {
        tf,
        async sync() {
          b.ensureCommandEncoderReady();
          b.endComputePassEncoder();
          b.submitQueue();
          await rt.device.queue.onSubmittedWorkDone();
        },
        dispose() {
          tf.removeBackend(BACKEND); // disposes its buffers; the device stays ours
        },
      },
    };
  } catch (e) {
    info.reason = `tfjs peer unavailable: ${e instanceof Error ? e.message : String(e)}`;
    return { peer: null, info };
  }
}

/** A peer instance from tensors made by `inputs` and an op applied to them inside tf.tidy. */
export function peerOp(peer: Peer, inputs: (tf: Tf) => TF.Tensor[], op: (tf: Tf, xs: TF.Tensor[]) => TF.Tensor): PeerInstance {
  const { tf } = peer;
  const xs = inputs(tf);
  return {
    run: () => {
      tf.tidy(() => {
        op(tf, xs);
      });
    },
    sync: () => peer.sync(),
    dispose: () => xs.forEach((x) => x.dispose()),
  };
}
