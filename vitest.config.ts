import { defineConfig } from 'vitest/config';

// Each test file gets its own process and WebGPU device. Files run one at a time: the software
// Vulkan driver already spreads each dispatch over every core, so parallel files only thrash.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
