// Generated with Python's hmac and hashlib from the inputs named in keys.rs.
const SKEYID_SHA1: &str = "52572046db329880cbf0a1742e7b1ad07de82089";
const SKEYID_D_SHA1: &str = "f2b3d79bb28c7c0b46d3468c51b37cf302d74079";
const SKEYID_A_SHA1: &str = "9ac4521fd079a277acb7c09be3c4ef75d3e8d6e6";
const ENC_KEY_SHA1_32: &str = "c990637147fcee001bf9ace04c3bca4a97124798b66b441cbbf4a995e4ff9e95";
const SKEYID_SIG_SHA256: &str = "332973d586c38bd5552ecd9f166f02dd28aed2d02a51064d2e98753eb89fbba9";
const IV_SHA256: &str = "bb4ae3faa8fb038f2c99d6db20a2e861";
const MSG_IV_SHA256: &str = "021777739840e03d153c0a7875740e37";
const KEYMAT_SHA256_36: &str =
    "2c67c158b7388b1900dd6375278aeba8d110335a607aea431ac9e2b7d1e3c92ac827a58e";
const KEYMAT_PFS_SHA256_64: &str = "42599b2bf723a6f66dd6ab4aff28a79a9b753d1350e2dc69a95401091347b3c2d07d16f53818a600ea98ee97c755264b56ab705f59257af4b953de378181fbbd";
