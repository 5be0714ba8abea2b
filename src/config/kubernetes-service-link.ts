// Kubernetes service links: unless a pod sets enableServiceLinks: false, kubelet gives it
// Docker-link variables for every Service in its namespace (pkg/kubelet/envvars), so a Service
// named cheq-rti-authz yields CHEQ_RTI_AUTHZ_SERVICE_HOST and friends, and one named cheq-grpc
// CHEQ_GRPC_PORT=tcp://…. They must neither stop the server nor be read as a setting: recognised
// here by name and value, exactly as kubelet writes them.

import { isIP } from 'node:net';

/** A Service name as kubelet writes it: upper case, `-` as `_` (DNS-1035 labels start with a letter). */
const SERVICE = '[A-Z][A-Z0-9_]*';
const PORT_NAME = '[A-Z0-9_]+';
const PROTOCOL = 'TCP|UDP|SCTP';

const SERVICE_HOST = new RegExp(`^${SERVICE}_SERVICE_HOST$`);
const SERVICE_PORT = new RegExp(`^${SERVICE}_SERVICE_PORT(?:_${PORT_NAME})?$`);
const FIRST_PORT = new RegExp(`^${SERVICE}_PORT$`);
const PORT = new RegExp(`^${SERVICE}_PORT_(\\d+)_(${PROTOCOL})(?:_(PROTO|PORT|ADDR))?$`);

function isPortNumber(value: string): boolean {
  return /^[1-9]\d{0,4}$/.test(value) && Number(value) <= 65535;
}

/** `tcp://10.0.0.1:80` or `tcp://[fd00::1]:80` (kubelet before JoinHostPort: `tcp://fd00::1:80`). */
function isLinkUrl(value: string, protocol?: string, port?: string): boolean {
  const match = /^(tcp|udp|sctp):\/\/(.+):(\d+)$/.exec(value);
  if (!match) return false;
  const [, scheme = '', host = '', number = ''] = match;
  const address = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return (
    isIP(address) !== 0 &&
    isPortNumber(number) &&
    (protocol === undefined || scheme === protocol.toLowerCase()) &&
    (port === undefined || number === port)
  );
}

/** Whether `name=value` is a variable kubelet injects for a Service (any of its readings). */
export function isKubernetesServiceLink(name: string, value: string): boolean {
  if (SERVICE_HOST.test(name) && isIP(value) !== 0) return true;
  if (SERVICE_PORT.test(name) && isPortNumber(value)) return true;
  if (FIRST_PORT.test(name) && isLinkUrl(value)) return true;
  const port = PORT.exec(name);
  if (!port) return false;
  const [, number = '', protocol = '', part] = port;
  switch (part) {
    case undefined:
      return isLinkUrl(value, protocol, number);
    case 'PROTO':
      return value === protocol.toLowerCase();
    case 'PORT':
      return value === number;
    default:
      return isIP(value) !== 0;
  }
}
