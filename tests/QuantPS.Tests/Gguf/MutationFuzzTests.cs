using System.Buffers.Binary;
using System.Diagnostics;
using QuantPS.Gguf;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Gguf;

/// <summary>
/// Thousands of mutated and truncated variants of real GGUF headers, from a fixed seed within a
/// time budget: each must parse or be refused with a GgufException, never anything else, and
/// never allocate more than its size justifies. The SharpFuzz harness in fuzz/ runs the same
/// target coverage-guided for longer.
/// </summary>
public sealed class MutationFuzzTests
{
    private static readonly string[] Seeds =
    [
        "models/tinyllamas-stories260K/stories260K.gguf",
        "models/gguf-v1/tinyllamas-stories-260k-f32.gguf",
        "models/llama.cpp-vocab/ggml-vocab-llama-spm.gguf",
        "models/llama.cpp-vocab/ggml-vocab-bert-bge.gguf",
    ];

    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(12);
    private const int MinimumVariants = 2_000;

    [Fact]
    public void Mutated_and_truncated_real_files_are_parsed_or_refused_cleanly()
    {
        var seeds = Seeds.Select(s => File.ReadAllBytes(SharedData.File(s))).ToArray();
        var random = new Random(20261123);
        var clock = Stopwatch.StartNew();
        var (variants, refused) = (0, 0);

        while (clock.Elapsed < Budget || variants < MinimumVariants)
        {
            var seed = seeds[random.Next(seeds.Length)];
            var headerEnd = HeaderLength(seed);
            var mutant = Mutate(seed, headerEnd, random);
            foreach (var mode in new[] { GgufParseMode.Strict, GgufParseMode.Lenient })
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    GgufHeaderParser.Parse(mutant, mode);
                }
                catch (GgufException)
                {
                    refused++;
                }
                catch (Exception e)
                {
                    Assert.Fail($"variant {variants} ({mutant.Length} bytes, seed {Array.IndexOf(seeds, seed)}) threw {e.GetType().Name}: {e.Message}");
                }

                var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                Assert.True(allocated < 16L * mutant.Length + (1 << 20), $"variant {variants}: {allocated} bytes allocated for a {mutant.Length}-byte file");
            }

            variants++;
        }

        Assert.True(refused > variants / 10, $"only {refused} of {variants} variants were refused: the mutations are too gentle");
    }

    /// <summary>Where the seed's tensor data begins: mutations aim at the header, where the parser works.</summary>
    private static int HeaderLength(byte[] file) => (int)Math.Min(file.Length, GgufHeaderParser.Parse(file).DataOffset);

    private static byte[] Mutate(byte[] seed, int headerEnd, Random random)
    {
        // Keep a little of the data section so bounds checks stay in play, without copying megabytes.
        var length = Math.Min(seed.Length, headerEnd + 4096);
        var bytes = seed.AsSpan(0, length).ToArray();
        var edits = 1 + random.Next(4);
        for (var e = 0; e < edits; e++)
        {
            var at = random.Next(Math.Max(1, headerEnd));
            switch (random.Next(6))
            {
                case 0: // flip a bit
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1: // a random byte
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 2: // an extreme 32-bit value (type ids, dims in v1, lengths)
                    if (at + 4 <= bytes.Length)
                    {
                        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), Extremes32[random.Next(Extremes32.Length)]);
                    }

                    break;
                case 3: // an extreme 64-bit value (counts, lengths, dims, offsets)
                    if (at + 8 <= bytes.Length)
                    {
                        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), Extremes64[random.Next(Extremes64.Length)]);
                    }

                    break;
                case 4: // truncate
                    return bytes.AsSpan(0, random.Next(bytes.Length)).ToArray();
                default: // duplicate a run of bytes (shifts everything after it)
                    var run = random.Next(1, 16);
                    if (at + run <= bytes.Length)
                    {
                        bytes = [.. bytes.AsSpan(0, at + run), .. bytes.AsSpan(at)];
                    }

                    break;
            }
        }

        return bytes;
    }

    private static readonly uint[] Extremes32 = [0, 1, 4, 5, 13, 31, 43, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF];

    private static readonly ulong[] Extremes64 =
        [0, 1, 63, 64, 1UL << 30, (1UL << 30) + 1, 1UL << 32, 1UL << 62, long.MaxValue, 1UL << 63, ulong.MaxValue];
}
