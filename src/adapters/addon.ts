/** Where the project's native addons are built (native/<dir>, node-gyp's Release build). */
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The absolute path of native/<dir>/build/Release/<file>. */
export function addonPath(dir: string, file: string): string {
  // dist/src/adapters -> repo root
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  return path.join(root, 'native', dir, 'build', 'Release', file);
}
