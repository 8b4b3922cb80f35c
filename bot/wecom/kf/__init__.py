"""WeChat customer service (微信客服): residents write to a community's account, answered there."""
