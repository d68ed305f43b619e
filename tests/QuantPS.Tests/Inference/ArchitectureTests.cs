using QuantPS.Inference.Engine;
using QuantPS.Tests.Gguf;
using Xunit;

namespace QuantPS.Tests.Engine;

/// <summary>qwen2 (Q/K/V biases, NEOX RoPE) and qwen3 (per-head Q/K RMS norm, NEOX RoPE) against llama.cpp's logits.</summary>
public sealed class ArchitectureTests
{
    // F16 weights and an F16 KV cache, as synth-256-F16 in GoldenLogitsTests (measured 0.0014 there on p1).
    private const float Tolerance = 0.05f;

    [Theory]
    [InlineData("qwen2")]
    [InlineData("qwen3")]
    public void Synthetic_model_logits_match_llama_cpp(string architecture)
    {
        using var temp = new TempFolder();
        using var model = LlmModel.Load(SyntheticArchitectures.Write(temp.Path, architecture));
        Assert.Equal((architecture, RopeLayout.Neox), (model.Config.Architecture, model.Config.RopeLayout));
        using var context = model.CreateContext(new ContextOptions { ContextLength = 512, Threads = 2 });
        var ids = GoldenLogits.Ids("synth-256-F16", "p1_short.prompt_ids.txt");
        var logits = context.EvaluateAll(ids, TestContext.Current.CancellationToken);

        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Inference", "Data", $"synth-256-{architecture}.p1_short.logits.f32"));
        var expected = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, expected, 0, bytes.Length);
        var diff = GoldenLogits.MaxAbsDiff(expected, logits);
        Assert.True(diff <= Tolerance, $"max |Δlogit| {diff}");

        // The architecture's own parts matter: the llama model these were made from is far from them.
        var llama = GoldenLogits.Floats("synth-256-F16", "p1_short.logits.f32");
        var apart = GoldenLogits.MaxAbsDiff(expected, llama);
        Assert.True(apart > 10 * Tolerance, $"llama vs {architecture}: max |Δlogit| only {apart}");
    }

    [Fact]
    public void Qwen3_needs_its_q_and_k_norms()
    {
        using var temp = new TempFolder();
        var path = SyntheticArchitectures.Write(temp.Path, "qwen3");
        var broken = ModelEditsFrom(temp.Path, path);
        var e = Assert.Throws<LlmException>(() => LlmModel.Load(broken));
        Assert.Equal((LlmErrorKind.MissingTensor, "blk.0.attn_q_norm.weight"), (e.Kind, e.Subject));
    }

    private static string ModelEditsFrom(string folder, string path)
    {
        using var source = QuantPS.Gguf.GgufModel.Open(path);
        var tensors = source.Tensors.Where(t => t.Name != "blk.0.attn_q_norm.weight").ToList();
        var target = Path.Combine(folder, "no-q-norm.gguf");
        QuantPS.Gguf.GgufWriter.Write(target, source.Metadata.ToList(),
            tensors.Select(t => new QuantPS.Gguf.GgufTensorSpec(t.Name, t.Type, t.Shape)).ToList(), i => source.GetTensorData(tensors[i]).ToArray());
        return target;
    }
}
