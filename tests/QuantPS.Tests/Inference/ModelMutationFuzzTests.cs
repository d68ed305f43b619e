using System.Diagnostics;
using QuantPS.Inference.Engine;
using QuantPS.Inference.Tokenizers;
using QuantPS.Tests.Gguf;
using Xunit;

namespace QuantPS.Tests.Engine;

/// <summary>
/// Hundreds of tiny models of every architecture whose headers parse but whose models are inconsistent
/// (<see cref="ModelMutator"/>), from a fixed seed within a time budget: each must load, get a context and decode a
/// batch and single tokens, or be refused with an LlmException (or a TokenizerException for its vocabulary), never
/// anything else, and never allocate more than its size justifies. A mismatch that reached the kernels would read
/// or write outside the mapping: an access violation ends the whole PowerShell host, not just this test.
/// </summary>
public sealed class ModelMutationFuzzTests
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(12);
    private const int MinimumVariants = 400;

    [Fact]
    public void Inconsistent_models_run_or_are_refused_cleanly()
    {
        using var temp = new TempFolder();
        var random = new Random(20261207);
        var clock = Stopwatch.StartNew();
        var (variants, ran, refused) = (0, 0, 0);
        while (clock.Elapsed < Budget || variants < MinimumVariants)
        {
            var model = ModelMutator.Mutant(random, out var edits);
            var path = model.Write(temp.File($"variant-{variants % 2}.gguf"), variants);
            var length = new FileInfo(path).Length;
            var before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                ran += Run(path, random, length) ? 1 : 0;
            }
            catch (Exception e) when (e is LlmException or TokenizerException)
            {
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"variant {variants} ({edits}) threw {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }

            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < (64 * length) + (16 << 20), $"variant {variants} ({edits}): {allocated} bytes allocated for a {length}-byte file");
            variants++;
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"{variants} variants: {ran} ran, {refused} refused, in {clock.Elapsed.TotalSeconds:F1} s");

        // Both sides must be exercised: mutations so gentle that all load, or so rough that none do, test little.
        Assert.True(refused > variants / 4, $"only {refused} of {variants} variants were refused");
        Assert.True(ran > variants / 20, $"only {ran} of {variants} variants ran");
    }

    /// <summary>The mutator's bases are valid: every one loads and decodes (they are the control group).</summary>
    [Fact]
    public void The_unmutated_models_all_run()
    {
        using var temp = new TempFolder();
        var random = new Random(7);
        for (var i = 0; i < 40; i++)
        {
            var model = ModelMutator.Base(random);
            var path = model.Write(temp.File($"base-{i % 2}.gguf"), i);
            try
            {
                Run(path, random, new FileInfo(path).Length, valid: true);
            }
            catch (Exception e)
            {
                Assert.Fail($"{model.Spec} threw {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
        }
    }

    // Load, a small context (options drawn at random; a refused option is a clean refusal too), a batch, then
    // single tokens. True when it ran to the end.
    private static bool Run(string path, Random random, long fileLength, bool valid = false)
    {
        using var llm = LlmModel.Load(path);
        var options = new ContextOptions
        {
            ContextLength = new[] { 0, 1, 2, 7, 64, 64, 130 }[random.Next(7)],
            Threads = 1 + random.Next(2),
            // Q8_0 needs heads of whole blocks and flash attention: a valid model is only given what it can take.
            KvCacheType = !valid || llm.Config.HeadDimension % 32 == 0 ? (KvCacheType)random.Next(3) : KvCacheType.F16,
            FlashAttention = valid || random.Next(3) != 0,
            BatchSize = new[] { 1, 3, 64, 512, 512 }[random.Next(5)],
            FullSlidingWindowCache = random.Next(4) == 0,
        };
        using var context = llm.CreateContext(options);
        // The KV cache is sized by the context (an option, or the trained one up to 4096) times layers and KV width,
        // which the tensors must justify: each layer has an attn_k of KV-width rows, at least 1 bit a value.
        var c = llm.Config;
        Assert.True((long)c.LayerCount * c.KvWidth <= 8 * fileLength, $"{c.LayerCount} layers of KV width {c.KvWidth} from a {fileLength}-byte file");
        Assert.True(context.KvCacheBytes <= (long)context.ContextLength * c.LayerCount * c.KvWidth * 2 * sizeof(float),
            $"a {context.KvCacheBytes}-byte cache for {context.ContextLength} positions, {c.LayerCount} layers of KV width {c.KvWidth}");
        var vocabulary = llm.Config.VocabularySize;
        var count = Math.Min(context.ContextLength, new[] { 1, 5, 70, 130 }[random.Next(4)]);
        var tokens = Enumerable.Range(0, count).Select(t => ((t * 7) + 1) % vocabulary).ToArray();
        if (random.Next(4) == 0)
        {
            context.EvaluateAll(tokens);
        }
        else
        {
            context.Decode(tokens);
        }

        for (var t = 0; t < 3 && context.Position < context.ContextLength; t++)
        {
            context.Decode(((t * 5) + 2) % vocabulary);
        }

        return true;
    }
}
