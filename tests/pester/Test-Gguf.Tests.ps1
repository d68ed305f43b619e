#Requires -Version 7.4
# Pester 5 tests for Test-Gguf: findings for good and bad files, and -Quiet for gating scripts.
# Run: ./build.ps1 -Test, or after a build: Invoke-Pester ./tests/pester

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $noStories = -not (Find-SharedFile 'models/tinyllamas-stories260K/stories260K.gguf')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-QuantPSModule
    $stories = Find-SharedFile 'models/tinyllamas-stories260K/stories260K.gguf'
}

Describe 'Test-Gguf' {
    Context 'stories260K from ../shared (skipped without it)' -Skip:$noStories {
        It 'finds nothing that would stop llama.cpp' {
            Test-Gguf $stories | Where-Object Severity -GE 'Incompatible' | Should -BeNullOrEmpty
        }

        It 'answers True with -Quiet' {
            Test-Gguf $stories -Quiet | Should -BeTrue
        }
    }

    Context 'made files' {
        BeforeAll {
            $good = New-TinyGguf -Path (Join-Path $TestDrive 'good.gguf')
            $badMagic = New-BrokenGguf -Path (Join-Path $TestDrive 'bad-magic.gguf') -Kind BadMagic
            $truncated = New-BrokenGguf -Path (Join-Path $TestDrive 'truncated.gguf') -Kind Truncated
            $future = New-BrokenGguf -Path (Join-Path $TestDrive 'future.gguf') -Kind UnsupportedVersion
            $missing = Join-Path $TestDrive 'missing.gguf'
        }

        It 'finds no Error in a good file' {
            Test-Gguf $good | Where-Object Severity -EQ 'Error' | Should -BeNullOrEmpty
        }

        It 'reports <Check> in a broken file as an Error finding, not an error record' -TestCases @(
            @{ File = 'bad-magic.gguf'; Check = 'InvalidMagic' }
            @{ File = 'truncated.gguf'; Check = 'Truncated' }
            @{ File = 'future.gguf'; Check = 'UnsupportedVersion' }
            @{ File = 'missing.gguf'; Check = 'FileNotFound' }
        ) {
            $path = Join-Path $TestDrive $File
            $findings = Test-Gguf -LiteralPath $path -ErrorVariable errors
            $errors | Should -BeNullOrEmpty
            $finding = $findings | Where-Object Severity -EQ 'Error'
            $finding.Check | Should -Be $Check
            $finding.Path | Should -Be $path
            $finding | Should -BeOfType ([QuantPS.Gguf.GgufFinding])
        }

        It 'gates a script on Severity' {
            $refused = foreach ($file in $good, $truncated) {
                if (Test-Gguf $file | Where-Object Severity -GE 'Incompatible') { Split-Path -Leaf $file }
            }
            $refused | Should -Be 'truncated.gguf'
        }

        It 'answers one Boolean per file with -Quiet' {
            $good, $badMagic, $missing | Test-Gguf -Quiet | Should -Be @($true, $false, $false)
        }

        It 'takes Get-ChildItem output and names each finding''s file' {
            $paths = Get-ChildItem -LiteralPath $TestDrive -Filter *.gguf | Test-Gguf | Where-Object Severity -EQ 'Error' | ForEach-Object Path
            $paths | Sort-Object | Should -Be (@($badMagic, $future, $truncated) | Sort-Object)
        }

        It 'reports a wildcard matching nothing as an error, or False with -Quiet' {
            $pattern = Join-Path $TestDrive 'nothing-*.gguf'
            { Test-Gguf $pattern -ErrorAction Stop } | Should -Throw -ErrorId 'GgufFileNotFound,*'
            Test-Gguf $pattern -Quiet | Should -BeFalse
        }
    }
}
