// Runs a Dockerfile's steps without a Docker engine: each stage gets its own directory, COPY
// copies from the build context (or an earlier stage), RUN runs in a shell, and the result of
// the last stage can be started with its ENTRYPOINT. Enough for our own Dockerfile, on purpose.

import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import {
  DockerfileParser,
  type Arg,
  type Copy,
  type Entrypoint,
  type Env,
  type From,
  type Instruction,
} from 'dockerfile-ast';

/** The instructions of a Dockerfile, as parsed by dockerfile-ast (Docker's own grammar). */
export function parseDockerfile(text: string): Instruction[] {
  return DockerfileParser.parse(text).getInstructions();
}

export interface StageResult {
  readonly name: string;
  readonly base: string;
  /** Host directory standing for the stage's root filesystem. */
  readonly root: string;
  readonly workdir: string;
  readonly env: Readonly<Record<string, string>>;
  readonly user: string | undefined;
  readonly exposed: readonly number[];
  readonly entrypoint: readonly string[];
}

/** Emulates every stage in order; returns them all (the last one is the image). */
export function emulateBuild(context: string, dockerfile: string, workRoot: string): StageResult[] {
  const args = new Map<string, string>();
  const stages: StageResult[] = [];
  let current:
    | {
        name: string;
        base: string;
        root: string;
        workdir: string;
        env: Record<string, string>;
        user: string | undefined;
        exposed: number[];
        entrypoint: string[];
      }
    | undefined;
  const finish = (): void => {
    if (current) stages.push({ ...current });
  };
  const expand = (text: string): string =>
    text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => {
      const name = (a ?? b) as string;
      return current?.env[name] ?? args.get(name) ?? '';
    });
  const hostPath = (dir: string): string => join(current!.root, dir);

  for (const instruction of parseDockerfile(readFileSync(join(context, dockerfile), 'utf8'))) {
    const keyword = instruction.getKeyword();
    const rest = instruction.getArgumentsContent() ?? '';
    switch (keyword) {
      case 'ARG': {
        const property = (instruction as Arg).getProperty();
        const name = property?.getName();
        if (name && !args.has(name)) args.set(name, property?.getValue() ?? '');
        break;
      }
      case 'FROM': {
        finish();
        const from = instruction as From;
        const base = expand(from.getImage() ?? '');
        const name = from.getBuildStage() ?? String(stages.length);
        const root = join(workRoot, `stage-${name}`);
        mkdirSync(root, { recursive: true });
        current = {
          name,
          base,
          root,
          workdir: '/',
          env: {},
          user: undefined,
          exposed: [],
          entrypoint: [],
        };
        break;
      }
      case 'WORKDIR':
        current!.workdir = posix.resolve(current!.workdir, expand(rest));
        mkdirSync(hostPath(current!.workdir), { recursive: true });
        break;
      case 'ENV':
        for (const property of (instruction as Env).getProperties()) {
          current!.env[property.getName()] = expand(property.getValue() ?? '');
        }
        break;
      case 'COPY': {
        const copy = instruction as Copy;
        const from = copy.getFromFlag()?.getValue() ?? undefined;
        const paths = copy.getArguments().map(arg => arg.getValue());
        const destArg = paths.pop() as string;
        const dest = posix.resolve(current!.workdir, destArg);
        const intoDirectory = paths.length > 1 || destArg.endsWith('/');
        const sourceRoot = from ? stages.find(s => s.name === from)?.root : context;
        if (!sourceRoot) throw new Error(`COPY --from=${from}: no such stage`);
        for (const source of paths) {
          const target = intoDirectory ? join(dest, posix.basename(source)) : dest;
          cpSync(join(sourceRoot, source), hostPath(target), { recursive: true });
        }
        break;
      }
      case 'RUN': {
        const result = spawnSync('sh', ['-c', expand(rest)], {
          cwd: hostPath(current!.workdir),
          env: { ...process.env, ...current!.env },
          encoding: 'utf8',
        });
        if (result.status !== 0) {
          throw new Error(
            `RUN ${rest} failed (${result.status}):\n${result.stdout}\n${result.stderr}`,
          );
        }
        break;
      }
      case 'USER':
        current!.user = rest;
        break;
      case 'EXPOSE':
        current!.exposed.push(
          ...instruction.getArguments().map(arg => Number.parseInt(arg.getValue(), 10)),
        );
        break;
      case 'ENTRYPOINT': {
        const words = (instruction as Entrypoint).getJSONStrings().map(w => w.getJSONValue());
        if (words.length === 0) throw new Error(`ENTRYPOINT ${rest}: not in exec (JSON) form`);
        current!.entrypoint = words;
        break;
      }
      case 'HEALTHCHECK':
        break;
      default:
        throw new Error(`Dockerfile instruction ${keyword} is not emulated`);
    }
  }
  finish();
  return stages;
}
