// The package's `main` is a CommonJS build under "type": "module", so we import its ES module file.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
