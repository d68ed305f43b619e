using System.Diagnostics;
using System.Globalization;
using QuantPS.Gguf;
using QuantPS.Inference.Engine;

// Usage: QuantPS.MemoryProbe <model.gguf> <context length> <F32|F16|Q8_0> <threads> <prompt tokens> <generated tokens>
// Prints one line: baseline=<bytes> peak=<bytes> kv=<bytes>, where baseline is the process's resident
// memory before the model is opened and peak its highest resident memory at the end.
// Every page of the weights is read once first: a short run looks up only a few rows of the token
// embedding, while a long session (and any plan for what must fit) has all the weights resident.
if (args.Length != 6)
{
    Console.Error.WriteLine("usage: QuantPS.MemoryProbe <model.gguf> <context length> <F32|F16|Q8_0> <threads> <prompt tokens> <generated tokens>");
    return 2;
}

var culture = CultureInfo.InvariantCulture;
int contextLength = int.Parse(args[1], culture);
var kvType = Enum.Parse<KvCacheType>(args[2]);
int threads = int.Parse(args[3], culture);
int promptTokens = int.Parse(args[4], culture);
int generatedTokens = int.Parse(args[5], culture);

GC.Collect();
GC.WaitForPendingFinalizers();
using var self = Process.GetCurrentProcess();
self.Refresh();
long baseline = self.WorkingSet64;

var gguf = GgufModel.Open(args[0]);
using var model = LlmModel.FromGguf(gguf);
long touched = 0;
foreach (var tensor in gguf.Tensors)
{
    var data = gguf.GetTensorData(tensor);
    for (int at = 0; at < data.Length; at += 4096) touched += data[at];
}

using var context = model.CreateContext(new ContextOptions { ContextLength = contextLength, KvCacheType = kvType, Threads = threads });
// Token ids that exist in any vocabulary of at least this many tokens; the content does not matter for memory.
var prompt = Enumerable.Range(0, promptTokens).Select(i => 1 + (i % 100)).ToArray();
var logits = context.Decode(prompt);
for (int i = 0; i < generatedTokens; i++)
{
    int next = 0;
    for (int t = 1; t < logits.Length; t++) if (logits[t] > logits[next]) next = t;
    logits = context.Decode(next);
}

self.Refresh();
Console.WriteLine(string.Create(culture, $"baseline={baseline} peak={self.PeakWorkingSet64} kv={context.KvCacheBytes}"));
GC.KeepAlive(touched);
return 0;
