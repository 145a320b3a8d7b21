// Reads the file write_sample wrote with Hugging Face's GGUF parser and compares what it sees
// with what vktrain wrote. Usage: node read_sample.mjs <node_modules dir> <file.gguf>
import { createRequire } from "node:module";
import path from "node:path";

const [modules, file] = process.argv.slice(2);
const require = createRequire(path.join(modules, "x.js"));
const { gguf } = await import(require.resolve("@huggingface/gguf"));
const { metadata, tensorInfos } = await gguf(file, { allowLocalFile: true });
const seen = JSON.stringify({ metadata, tensorInfos }, (k, v) => (typeof v === "bigint" ? v.toString() : v));
const expected = JSON.stringify({
  metadata: {
    version: 3, tensor_count: "3", kv_count: "10", "general.architecture": "llama",
    "general.name": "crosscheck \u00fc", "llama.block_count": 2, "tokenizer.ggml.tokens": ["a", "b", "<s>"],
    "x.bool": true, "x.f32": 0.5, "x.f64": 2.25, "x.i8": -5, "x.ints": [1, -2, 3], "x.u64": "1099511627776",
  },
  tensorInfos: [
    { name: "w.q8", n_dims: 2, shape: ["256", "64"], dtype: 8, offset: "0" },
    { name: "w.q4k", n_dims: 2, shape: ["256", "64"], dtype: 12, offset: "17408" },
    { name: "f", n_dims: 1, shape: ["10"], dtype: 0, offset: "26624" },
  ],
});
if (seen !== expected) {
  console.log("FAIL: @huggingface/gguf reads\n" + seen + "\nexpected\n" + expected);
  process.exit(1);
}
console.log("ok: @huggingface/gguf reads the metadata and tensor table vktrain wrote");
