// Mocha root hooks (loaded by .mocharc.json's `require`).

import { killLeftoverProcesses } from './server-process';

export const mochaHooks = {
  afterAll(): void {
    const left = killLeftoverProcesses();
    if (left > 0) throw new Error(`${left} server process(es) still running after the tests`);
  },
};
