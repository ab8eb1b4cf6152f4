/** All of a stream of output, as text: what a reader of an exec's stdout or stderr gets in the end. */
export async function text(stream: AsyncIterable<Uint8Array>): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += Buffer.from(chunk).toString();
  return out;
}
